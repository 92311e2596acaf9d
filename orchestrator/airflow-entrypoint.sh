#!/bin/sh
# `docker run mindpulse/airflow scheduler` runs `airflow scheduler`, like the official Airflow image;
# a command that starts with airflow, a shell, python or a path runs unchanged.
set -e
case "${1:-}" in
  airflow | bash | sh | python | python3 | /*) exec "$@" ;;
  *) exec airflow "$@" ;;
esac
