# The project's image: Airflow 3 + the nir package + dbt project + suites, from uv.lock.
# Every Airflow component of docker-compose.yml runs this image with a different command.
FROM python:3.11-slim-bookworm

ENV UV_PROJECT_ENVIRONMENT=/opt/nir/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/nir/.venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/nir/dags \
    NIR_DATA_DIR=/data \
    NIR_DEPLOYMENT=deployed

# the same uv as the Makefile
RUN pip install --no-cache-dir uv==0.13.8 \
    && useradd --create-home --uid 50000 --gid 0 airflow \
    && mkdir -p /opt/nir /opt/airflow/logs /opt/airflow/secrets /data \
    && chown -R airflow:0 /opt/nir /opt/airflow /data \
    && chmod 0700 /opt/airflow/logs /opt/airflow/secrets /data

WORKDIR /opt/nir
USER airflow

# dependencies first (cached while only the code changes), exactly as locked
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# the project: package (installed editable, so nir finds dbt_project/ and expectations/
# beside src/), the DAGs, the dbt project and the suites
COPY --chown=airflow:0 src ./src
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 dbt_project ./dbt_project
COPY --chown=airflow:0 expectations ./expectations
RUN uv sync --frozen --no-dev

# named volumes start with these folders' owner and mode (0700): logs and data owner-only.
# No secret is baked in or defaulted: docker-compose.yml mounts them as files (/run/secrets/).
VOLUME ["/data", "/opt/airflow/logs", "/opt/airflow/secrets"]
CMD ["airflow", "version"]
