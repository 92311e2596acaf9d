"""The demo tools' room: synthetic data with the Kaggle schema, the bootstrap, and the serving API's stand-in.

May import the shared core and the retrain room (the bootstrap trains the first model); no pipeline step
imports it.
"""
