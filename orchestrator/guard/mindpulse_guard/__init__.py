"""The Docker guard: the only way Airflow reaches a Docker engine (policy: what it forwards; server: how)."""
