{#- Incremental builds. Raw tables are append-only and every raw row carries the `_load_id` of the ingest load
    that brought it; each intermediate model keeps, per key, the largest `_load_id` it has seen (`_max_load_id`).
    An incremental run recomputes only the keys (clients, credits, loans) having raw rows newer than the model's
    watermark, over their whole history, and replaces their rows (delete+insert on unique_key). -#}

{#- The largest _max_load_id already processed by this model; -1 on a full build. -#}
{% macro watermark(relation=none) -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query('select coalesce(max(_max_load_id), -1) from ' ~ (relation or this)) -%}
        {{- return(result.columns[0].values()[0]) -}}
    {%- endif -%}
    {{- return(-1) -}}
{%- endmacro %}

{#- `where <key> in (...)` keeping the keys of `changed_sql` on incremental runs; nothing on full builds. -#}
{% macro only_changed(key, changed_sql) -%}
    {%- if is_incremental() %}where {{ keys_in(key, changed_sql) }}{% endif -%}
{%- endmacro %}

{#- The rows an incremental run rebuilds from a model's own input (applications): DuckDB reads the new load's rows
    only; Spark, the whole key ranges of their keys (see keys_in). -#}
{% macro new_rows(key, relation, since) -%}
    {{- return(adapter.dispatch('new_rows')(key, relation, since)) -}}
{%- endmacro %}

{% macro default__new_rows(key, relation, since) -%}
    where _load_id > {{ since }}
{%- endmacro %}

{% macro spark__new_rows(key, relation, since) -%}
    {{ only_changed(key, new_keys(relation, key, since)) }}
{%- endmacro %}

{#- Key ranges (Spark). Spark's Parquet tables have no DELETE nor MERGE: an incremental model there overwrites
    whole partitions (insert_overwrite), so its table is partitioned by _key_range = floor(key / size) (sizes in
    var key_ranges) and a run rebuilds every key of the ranges holding a changed key, so that each partition it
    overwrites is complete. New clients, credits and loans get new, larger ids: a night's batch lands in a few new
    ranges and leaves the older partitions' files alone. On DuckDB (delete+insert) only the changed keys. -#}
{% macro key_range(key) -%}
    cast(floor({{ key }} / {{ var('key_ranges')[key] }}) as bigint)
{%- endmacro %}

{#- A condition keeping the keys of `keys_sql` (a query of one column named `key`): on Spark, their whole ranges. -#}
{% macro keys_in(key, keys_sql) -%}
    {{- return(adapter.dispatch('keys_in')(key, keys_sql)) -}}
{%- endmacro %}

{% macro default__keys_in(key, keys_sql) -%}
    {{ key }} in ({{ keys_sql }})
{%- endmacro %}

{% macro spark__keys_in(key, keys_sql) -%}
    {{ key_range(key) }} in (select {{ key_range(key) }} from ({{ keys_sql }}) as changed_keys)
{%- endmacro %}

{#- The partition column of a model keyed by `key`, appended to its select list on Spark; nothing on DuckDB. -#}
{% macro key_range_column(key) -%}
    {{- return(adapter.dispatch('key_range_column')(key)) -}}
{%- endmacro %}

{% macro default__key_range_column(key) -%}{%- endmacro %}

{% macro spark__key_range_column(key) -%}
    , {{ key_range(key) }} as _key_range
{%- endmacro %}

{#- The clause that stores a model's rows in full row groups, for the model that drives the feature store's wide
    join (client_features). DuckDB writes each thread's last rows as a partial row group; a table built from a
    source with partial row groups inherits them, and the checkpoint at commit then rewrites client_features' 940
    columns to merge them (7 to 11 s at full scale). Rows sorted by key are written in full row groups, for 0.5 s
    more here. Spark's tables are files per partition: nothing to add there. -#}
{% macro full_row_groups(key) -%}
    {{- return(adapter.dispatch('full_row_groups')(key)) -}}
{%- endmacro %}

{% macro default__full_row_groups(key) -%}{%- endmacro %}

{% macro duckdb__full_row_groups(key) -%}
    order by {{ key }}
{%- endmacro %}

{#- Keys of `relation` whose rows' `load_column` is newer than `since`. -#}
{% macro new_keys(relation, key, since, load_column='_load_id') -%}
    select {{ key }} from {{ relation }} where {{ load_column }} > {{ since }}
{%- endmacro %}

{#- The mart has no room for a watermark column (its columns are the feature contract), so its watermark lives in
    a one-row table: the largest _max_load_id of its upstream models when it was last built. -#}
{% macro record_watermark(table, models) -%}
    {{- return(adapter.dispatch('record_watermark')(table, models)) -}}
{%- endmacro %}

{% macro default__record_watermark(table, models) -%}
    create or replace table {{ table }} as {{ upstream_watermark(models) }}
{%- endmacro %}

{#- Spark's Parquet tables have no `create or replace`: the one-row table is created once and overwritten. -#}
{% macro spark__record_watermark(table, models) -%}
    {%- do run_query('create table if not exists ' ~ table ~ ' (_max_load_id bigint) using parquet') -%}
    insert overwrite table {{ table }} {{ upstream_watermark(models) }}
{%- endmacro %}

{#- The largest _max_load_id of `models`, as a one-row query. -#}
{% macro upstream_watermark(models) -%}
    select greatest(
        {%- for model in models %}
        coalesce((select max(_max_load_id) from {{ ref(model) }}), -1){{ ',' if not loop.last }}
        {%- endfor %}
    ) as _max_load_id
{%- endmacro %}

{#- The watermark recorded by record_watermark; -1 on a full build or when it was never recorded. -#}
{% macro stored_watermark(table) -%}
    {%- if execute and is_incremental() -%}
        {%- set parts = table.split('.') -%}
        {%- if adapter.get_relation(database=this.database, schema=parts[0], identifier=parts[1]) -%}
            {{- return(watermark(table)) -}}
        {%- endif -%}
    {%- endif -%}
    {{- return(-1) -}}
{%- endmacro %}

{#- Build log: how many keys each incremental model (re)built in each dbt invocation, so that a test can show a
    nightly build only touches the batch's clients. A pre-hook records the watermark before the build; the
    post-hook counts the rows newer than it (exactly the keys the run recomputed). -#}
{% macro create_build_log() -%}
    {{- return(adapter.dispatch('create_build_log')()) -}}
{%- endmacro %}

{% macro spark__create_build_log() -%}
    {%- do run_query('create schema if not exists intermediate') -%}
    create table if not exists intermediate.dbt_build_log (
        invocation_id string, model string, watermark_before bigint, rows_processed bigint, logged_at timestamp
    ) using parquet
{%- endmacro %}

{% macro default__create_build_log() -%}
    create schema if not exists intermediate;
    create table if not exists intermediate.dbt_build_log (
        invocation_id varchar, model varchar, watermark_before bigint, rows_processed bigint,
        logged_at timestamp default current_timestamp
    )
{%- endmacro %}

{% macro log_watermark_before(watermark_id=none) -%}
    insert into intermediate.dbt_build_log (invocation_id, model, watermark_before)
    values ('{{ invocation_id }}', '{{ this.identifier }}', {{ watermark() if watermark_id is none else watermark_id }})
{%- endmacro %}

{#- SQL for the watermark a model had before this dbt invocation rebuilt it (-1 after a full build, or when this
    invocation built nothing: a plain `dbt test` then checks every row). -#}
{% macro watermark_of_this_build(model_name) -%}
    (select coalesce(max(watermark_before), -1) from intermediate.dbt_build_log
     where invocation_id = '{{ invocation_id }}' and model = '{{ model_name }}')
{%- endmacro %}

{#- `processed_sql` counts the rebuilt keys given the watermark before the build (default: this model's rows). -#}
{% macro log_rows_processed(processed_sql=none) -%}
    {{- return(adapter.dispatch('log_rows_processed')(processed_sql)) -}}
{%- endmacro %}

{#- Spark's Parquet tables have no UPDATE: the count goes in a second row of the model (the one with
    rows_processed, which readers take), the watermark read first and written into the SQL. -#}
{% macro spark__log_rows_processed(processed_sql=none) -%}
    {%- set before = run_query('select ' ~ watermark_of_this_build(this.identifier)).columns[0].values()[0]
                     if execute else -1 -%}
    {%- set sql = processed_sql or 'select count(*) from ' ~ this ~ ' where _max_load_id > __WATERMARK__' -%}
    insert into intermediate.dbt_build_log
    select '{{ invocation_id }}', '{{ this.identifier }}', {{ before }}, processed.n, current_timestamp()
    from ({{ sql | replace('__WATERMARK__', before | string) }}) as processed (n)
{%- endmacro %}

{% macro default__log_rows_processed(processed_sql=none) -%}
    update intermediate.dbt_build_log as log
    set rows_processed = (
        {%- if processed_sql is none %}
        select count(*) from {{ this }} where _max_load_id > log.watermark_before
        {%- else %}
        {{ processed_sql | replace('__WATERMARK__', 'log.watermark_before') }}
        {%- endif %}
    )
    where invocation_id = '{{ invocation_id }}' and model = '{{ this.identifier }}'
{%- endmacro %}

{#- Clients with an application or a history row newer than `since` in any of `models`. -#}
{% macro changed_clients(models, since) -%}
    {%- for model in models %}
    {{ new_keys(ref(model), 'SK_ID_CURR', since, '_max_load_id') }}{{ ' union' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- A hash of the feature values of a row, for FEATURE_HASH: it changes when a feature does. Doubles are read in
    single precision, so that the last-bit noise of floating-point aggregation (which depends on how rows are split
    between threads) leaves the hash alone. -#}
{% macro feature_hash(columns) -%}
    {%- set values = [] -%}
    {%- for column in columns -%}
        {%- set is_double = column.dtype | upper == 'DOUBLE' -%}
        {%- do values.append('cast(' ~ column.name ~ ' as float)' if is_double else column.name) -%}
    {%- endfor -%}
    {{- return(adapter.dispatch('feature_hash')(values)) -}}
{%- endmacro %}

{#- Portable: an md5 of the values as text, separated by '|'. -#}
{% macro default__feature_hash(values) -%}
    {%- set parts = [] -%}
    {%- for value in values -%}
        {%- if not loop.first -%}{%- do parts.append("'|'") -%}{%- endif -%}
        {%- do parts.append("coalesce(cast(" ~ value ~ " as " ~ dbt.type_string() ~ "), '')") -%}
    {%- endfor -%}
    {{- return(dbt.hash(dbt.concat(parts))) -}}
{%- endmacro %}

{#- Spark hashes the values themselves with xxHash64. -#}
{% macro spark__feature_hash(values) -%}
    {{- return('xxhash64(' ~ values | join(', ') ~ ')') -}}
{%- endmacro %}

{#- DuckDB hashes the values themselves, an order of magnitude faster than md5 of text. -#}
{% macro duckdb__feature_hash(values) -%}
    {{- return('hash(' ~ values | join(', ') ~ ')') -}}
{%- endmacro %}

{#- dbt's own schema-change check compares every column with every other in Jinja (selectattr per column): 12 s
    on the 940 columns of client_features, every night. Equal column lists (the usual case) are recognised in one
    comparison; only a real change pays for dbt's detailed diff (and then fails the build, on_schema_change: fail). -#}
{% macro default__check_for_schema_changes(source_relation, target_relation) -%}
    {%- set source_columns = adapter.get_columns_in_relation(source_relation) -%}
    {%- set target_columns = adapter.get_columns_in_relation(target_relation) -%}
    {%- set source_names = source_columns | map(attribute='name') | list -%}
    {%- set target_names = target_columns | map(attribute='name') | list -%}
    {%- set source_types = source_columns | map(attribute='dtype') | list -%}
    {%- if source_names == target_names and source_types == target_columns | map(attribute='dtype') | list -%}
        {{- return({'schema_changed': false, 'source_not_in_target': [], 'target_not_in_source': [],
                    'source_columns': source_columns, 'target_columns': target_columns, 'new_target_types': []}) -}}
    {%- endif -%}
    {{- return(dbt.default__check_for_schema_changes(source_relation, target_relation)) -}}
{%- endmacro %}
