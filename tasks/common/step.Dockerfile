# A pipeline step: its family image plus the step's entrypoint, one small layer on top. One file for every
# step: the family each step needs is declared in mindpulse/catalog.py, and build_images.sh passes it.
# By hand, from the repository root (after the family image is built):
#   docker build -f tasks/common/step.Dockerfile --build-arg FAMILY=evidently \
#     -t mindpulse/detect-drift:TAG tasks/retrain/detect_drift
ARG FAMILY=base
ARG TAG=latest
FROM mindpulse/family-${FAMILY}:${TAG}
COPY entrypoint.py /app/entrypoint.py
ENTRYPOINT ["python", "/app/entrypoint.py"]
