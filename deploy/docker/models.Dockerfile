# The models image: the trained model repository and the deployment's pipelines.json, nothing to run. Pods copy it
# into an emptyDir from an init container (deploy/k8s); compose copies it into a volume.
#   docker build -f deploy/docker/models.Dockerfile -t musegrpc/models .
# The muse-random fixture models stay out (.dockerignore); a new model version is a new tag of this image.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
COPY --chown=root:root models/repository /models/repository
COPY --chown=root:root deploy/k8s/base/pipelines.json /models/pipelines.json
# Owned by "app": compose fills a new named volume mounted here from the image, ownership included.
RUN mkdir /mnt/models && chown "$APP_UID:$APP_UID" /mnt/models
USER $APP_UID
CMD ["cp", "-R", "/models/.", "/mnt/models/"]
