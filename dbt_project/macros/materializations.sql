{#- The project's materializations: each writes its relation in one transaction with as few
    statements and catalog lookups as DuckDB needs. dbt-duckdb's own (table, view,
    incremental) build beside the target, swap by renames, and look up columns, indexes and
    foreign keys on the way: ~40-70 ms of dbt's time per model and run, twice the model's own
    SQL at demo scale (docs/performance.md). What they guard that applies here is kept: a
    relation of another type under the same name is dropped first, and rows whose columns
    differ from the table's fail (dbt-duckdb's on_schema_change='fail').

    replaced_view, replaced_table: staging, the label and published tables;
    snapshot_partition: intermediate and marts; append_only: the archives of final figures. -#}

{#- A table replaced as a whole: `create or replace table ... as`; with an enforced contract
    (the published tables), dbt's own DDL: the model's columns checked against the declared
    ones, the table created with its constraints (not null), then filled. -#}
{% materialization replaced_table, adapter='duckdb' %}
  {%- set target = this.incorporate(type='table') -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {{ nir_drop_other_type(target) }}
  {% if config.get('contract').enforced %}
    {% call statement('main') -%}
      drop table if exists {{ target }};
      {{ get_create_table_as_sql(False, target, compiled_code) }}
    {%- endcall %}
  {% else %}
    {% call statement('main') -%}
      create or replace table {{ target }} as (
        {{ compiled_code }}
      )
    {%- endcall %}
  {% endif %}
  {{ return(nir_finish(target, post_hooks)) }}
{% endmaterialization %}

{#- A view replaced as a whole: `create or replace view ... as`. -#}
{% materialization replaced_view, adapter='duckdb' %}
  {{ nir_no_contract() }}
  {%- set target = this.incorporate(type='view') -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {{ nir_drop_other_type(target) }}
  {% call statement('main') -%}
    create or replace view {{ target }} as (
      {{ compiled_code }}
    )
  {%- endcall %}
  {{ return(nir_finish(target, post_hooks)) }}
{% endmaterialization %}

{#- A table with one partition per snapshot: the model selects the rows of the snapshot being
    built, which replace the rows of the same `snapshot_date` (dbt's delete+insert on that
    key), every other snapshot untouched. The first build (or a relation of another type)
    creates the table. Columns that differ in name or type from the table's fail the build:
    a changed model needs its table dropped and its snapshots rebuilt (docs/operations.md). -#}
{% materialization snapshot_partition, adapter='duckdb' %}
  {{ return(nir_add_rows(compiled_code, pre_hooks, post_hooks, replacing='snapshot_date')) }}
{% endmaterialization %}

{#- An append-only table: the model's rows are added, nothing is rewritten (the archives of
    final figures). The model selects only what is new, with `appending()` true once the
    table exists; columns that differ from the table's fail as in snapshot_partition. -#}
{% materialization append_only, adapter='duckdb' %}
  {{ return(nir_add_rows(compiled_code, pre_hooks, post_hooks, replacing=none)) }}
{% endmaterialization %}

{#- snapshot_partition and append_only: the model's rows into its table in one transaction,
    through a temporary table whose columns must be the table's; `replacing`: the column
    whose values in the new rows are deleted from the table first (none: only added). -#}
{% macro nir_add_rows(compiled_code, pre_hooks, post_hooks, replacing) %}
  {{ nir_no_contract() }}
  {%- set existing = load_cached_relation(this) -%}
  {%- set target = this.incorporate(type='table') -%}
  {%- set ny = target.identifier ~ '__ny' -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {% if existing is none or not existing.is_table %}
    {{ nir_drop_other_type(target) }}
    {% call statement('main') -%}
      create table {{ target }} as (
        {{ compiled_code }}
      )
    {%- endcall %}
  {% else %}
    {% call statement('main') -%}
      create or replace temp table {{ ny }} as (
        {{ compiled_code }}
      );
      {{ nir_same_columns(target, ny) }};
      {% if replacing -%}
      delete from {{ target }} where {{ replacing }} in (select {{ replacing }} from {{ ny }});
      {%- endif %}
      insert into {{ target }} by name select * from {{ ny }};
      drop table {{ ny }};
    {%- endcall %}
  {% endif %}
  {{ return(nir_finish(target, post_hooks)) }}
{% endmacro %}

{#- The end all of them share: the docs persisted (where configured), the post-hooks, the
    commit; returns what dbt caches. -#}
{% macro nir_finish(target, post_hooks) %}
  {% do persist_docs(target, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target]}) }}
{% endmacro %}

{#- Whether an append_only model adds to its existing table (dbt's is_incremental() is true
    only for dbt's own incremental materialization). -#}
{% macro appending() -%}
  {%- if not execute -%}{{ return(false) }}{%- endif -%}
  {%- set existing = load_cached_relation(this) -%}
  {{ return(existing is not none and existing.is_table
            and model.config.materialized == 'append_only') }}
{%- endmacro %}

{#- A statement that fails, naming them, when temp table `ny`'s columns differ in name or type
    from `target`'s (dbt-duckdb's on_schema_change='fail'). -#}
{% macro nir_same_columns(target, ny) -%}
      with kolonner as (
        select database_name = 'temp' as ny, column_name, data_type
        from duckdb_columns()
        where (database_name = 'temp' and table_name = '{{ ny }}')
          or (database_name = '{{ target.database }}' and schema_name = '{{ target.schema }}'
              and table_name = '{{ target.identifier }}')
      ),
      avvik as (
        select column_name || ' ' || data_type as kolonne, bool_or(ny) as i_modellen
        from kolonner
        group by column_name, data_type
        having count(*) = 1
      )
      select error(
        '{{ target }}: the model''s columns differ from the table''s ('
        || string_agg(case when i_modellen then 'new ' else 'gone ' end || kolonne, ', ' order by kolonne)
        || '): drop the table and rebuild its snapshots (docs/operations.md)'
      )
      from avvik
      having count(*) > 0
{%- endmacro %}

{#- Stop a model with an enforced contract whose materialization does not enforce it (only
    replaced_table does): a contract must never be dropped silently. -#}
{% macro nir_no_contract() -%}
  {%- if config.get('contract').enforced -%}
    {{ exceptions.raise_compiler_error(
        model.name ~ ": its contract is enforced only with materialized='replaced_table'") }}
  {%- endif -%}
{%- endmacro %}

{#- Drop what stands under `target`'s name when it is of another type (a view where a table
    is built, or the reverse): `create or replace` replaces only its own type. -#}
{% macro nir_drop_other_type(target) -%}
  {%- set existing = load_cached_relation(target) -%}
  {%- if existing is not none and existing.type != target.type -%}
    {{ adapter.drop_relation(existing) }}
  {%- endif -%}
{%- endmacro %}
