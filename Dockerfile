# lakebench-ray on the official Ray image (CPU, Python 3.11). Used by every Ray pod of
# kuberay/*.yaml. Build from the repository root (the context is filtered by .dockerignore):
#   docker build -t lakebench-ray:0.1.0 .
# RAY_VERSION must match rayVersion in kuberay/*.yaml and lakebench_ray.kuberay.RAY_VERSION.
ARG RAY_VERSION=2.60.0
# "<version>-py311" is the CPU image (the same as "<version>-py311-cpu").
FROM rayproject/ray:${RAY_VERSION}-py311
ARG RAY_VERSION

# The Ray image runs as the unprivileged user "ray" (group "users") with HOME=/home/ray
# and pip from its conda environment.
USER ray
RUN mkdir -p /home/ray/lakebench
WORKDIR /home/ray/lakebench
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users lakebench_ray/ lakebench_ray/

# Runtime dependencies only (no test/report extras). Naming ray keeps the image's Ray
# version: pip must not move it away from the Ray the cluster runs.
RUN pip install --no-cache-dir . "ray[default]==${RAY_VERSION}" \
    && rm -rf build ./*.egg-info \
    && cd /home/ray && python -m lakebench_ray --help > /dev/null

# Lakebench's datagen Job passes only arguments (--target-tb ... --bucket ...): they go to the job
# contract (lakebench-ray lakebench-job). Any other command runs as given (ray start, python, bash).
# No credentials live in the image: pods get them from their Secret's environment.
COPY --chown=ray:users --chmod=0755 docker/entrypoint.sh /home/ray/lakebench/entrypoint.sh
ENTRYPOINT ["/home/ray/lakebench/entrypoint.sh"]
CMD []

# The packaged configs are found by name (--config default, --config local); pods start in HOME
# like stock Ray.
WORKDIR /home/ray
