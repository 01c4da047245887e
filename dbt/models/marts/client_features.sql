{#- The feature store: one row per client (train, test and nightly-batch applications) with the application's
    features and every per-client aggregate. Clients without rows in a history table get NULL aggregates and zero
    counts (columns named *_COUNT, *_SIZE, *_NUNIQUE). FEATURE_HASH hashes every feature, doubles rounded to single
    precision: parallel floating-point sums differ in the last bits between a full and an incremental build. Incremental: only clients whose application or history
    changed since the last build (watermark kept in intermediate.client_features__watermark) are rebuilt. -#}
{%- set histories = ['int_bureau__per_client', 'int_previous__per_client', 'int_pos__per_client',
                     'int_installments__per_client', 'int_credit_card__per_client'] -%}
{%- set upstream = ['int_application__clients'] + histories -%}
{%- set watermark_table = 'intermediate.client_features__watermark' -%}
{#- The hook is a string rendered at run time, when ref() resolves to the upstream tables. -#}
{{ config(
    unique_key='SK_ID_CURR',
    pre_hook="{{ log_watermark_before(stored_watermark('" ~ watermark_table ~ "')) }}",
    post_hook=[
        "{{ log_rows_processed('select count(*) from (' ~ changed_clients(" ~ upstream | tojson
            ~ ", '__WATERMARK__') ~ ')') }}",
        "{{ record_watermark('" ~ watermark_table ~ "', " ~ upstream | tojson ~ ") }}",
    ],
) }}
{%- set watermark_id = stored_watermark(watermark_table) -%}
{%- set non_features = ['SK_ID_CURR', 'TARGET', 'DATASET', 'APPLICATION_LOAD_ID'] -%}
{%- set features, hashed = [], [] -%}
{%- if execute -%}
    {%- for col in adapter.get_columns_in_relation(ref('int_application__clients'))
           if col.name not in non_features and col.name != '_max_load_id' -%}
        {%- do features.append('clients.' ~ adapter.quote(col.name)) -%}
        {%- do hashed.append(hash_argument(col)) -%}
    {%- endfor -%}
    {%- for model in histories -%}
        {%- for col in adapter.get_columns_in_relation(ref(model)) if col.name not in ('SK_ID_CURR', '_max_load_id') -%}
            {%- set qualified = model ~ '.' ~ adapter.quote(col.name) -%}
            {%- if col.name.endswith('_COUNT') or col.name.endswith('_SIZE') or col.name.endswith('_NUNIQUE') -%}
                {%- do features.append('coalesce(' ~ qualified ~ ', 0) as ' ~ adapter.quote(col.name)) -%}
            {%- else -%}
                {%- do features.append(qualified) -%}
            {%- endif -%}
            {%- do hashed.append(hash_argument(col)) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif %}

with clients as (
    select * from {{ ref('int_application__clients') }}
    {%- if is_incremental() %}
    where SK_ID_CURR in ({{ changed_clients(upstream, watermark_id) }})
    {%- endif %}
),

features as (
    select
        clients.SK_ID_CURR,
        clients.TARGET,
        clients.DATASET,
        clients.APPLICATION_LOAD_ID,
        {{ features | join(',\n        ') }}
    from clients
    {%- for model in histories %}
    left join {{ ref(model) }} as {{ model }} on {{ model }}.SK_ID_CURR = clients.SK_ID_CURR
    {%- endfor %}
)

select
    SK_ID_CURR,
    TARGET,
    DATASET,
    APPLICATION_LOAD_ID,
    hash({{ hashed | join(', ') }}) as FEATURE_HASH,
    * exclude (SK_ID_CURR, TARGET, DATASET, APPLICATION_LOAD_ID)
from features
