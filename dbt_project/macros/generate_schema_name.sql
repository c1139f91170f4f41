{#- Models and seeds land in schemas named exactly as configured (staging, intermediate,
    marts, publisering, referanse), not <target>_<custom>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema | trim }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
