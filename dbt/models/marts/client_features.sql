{#- The feature store: one row per client (train, test and nightly-batch applications) with the application's
    features and every per-client history aggregate. A client without rows in a history table gets NULL aggregates
    and zero counts (columns named *_COUNT, *_SIZE, *_NUNIQUE). FEATURE_HASH changes exactly when a feature does.
    Incremental: a nightly build rebuilds only the clients whose application or history changed since the last
    build (the watermark lives in intermediate.client_features__watermark). -#}
{%- set histories = ['int_bureau__per_client', 'int_previous__per_client', 'int_pos__per_client',
                     'int_installments__per_client', 'int_credit_card__per_client'] -%}
{%- set upstream = ['int_application__clients'] + histories -%}
{%- set watermark_table = 'intermediate.client_features__watermark' -%}
{#- The hooks are strings rendered at run time, when ref() resolves to the upstream tables. -#}
{{ config(
    unique_key='SK_ID_CURR',
    pre_hook="{{ log_watermark_before(stored_watermark('" ~ watermark_table ~ "')) }}",
    post_hook=[
        "{{ log_rows_processed('select count(*) from (' ~ changed_clients(" ~ upstream | tojson
            ~ ", '__WATERMARK__') ~ ') as changed') }}",
        "{{ record_watermark('" ~ watermark_table ~ "', " ~ upstream | tojson ~ ") }}",
    ],
) }}
{%- set non_features = ['SK_ID_CURR', 'TARGET', 'DATASET', 'APPLICATION_LOAD_ID', '_max_load_id', '_key_range'] -%}
{%- set features, selected = [], [] -%}
{%- if execute -%}
    {%- for model in upstream -%}
        {%- for column in adapter.get_columns_in_relation(ref(model)) if column.name not in non_features -%}
            {%- do features.append(column) -%}
            {%- if model != 'int_application__clients' and column.name.endswith(('_COUNT', '_SIZE', '_NUNIQUE')) -%}
                {%- do selected.append('coalesce(' ~ model ~ '.' ~ column.name ~ ', 0) as ' ~ column.name) -%}
            {%- else -%}
                {%- do selected.append(model ~ '.' ~ column.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif %}

with

{% if is_incremental() -%}
changed as (
    {{ changed_clients(upstream, stored_watermark(watermark_table)) }}
),

{% endif -%}
{%- for model in upstream %}
{{ model }} as (
    select * from {{ ref(model) }}
    {%- if is_incremental() %}
    where {{ keys_in('SK_ID_CURR', 'select SK_ID_CURR from changed') }}
    {%- endif %}
),
{% endfor %}
features as (
    select
        int_application__clients.SK_ID_CURR,
        int_application__clients.TARGET,
        int_application__clients.DATASET,
        int_application__clients.APPLICATION_LOAD_ID
        {%- for item in selected %},
        {{ item }}
        {%- endfor %}
    from int_application__clients
    {%- for model in histories %}
    left join {{ model }} on int_application__clients.SK_ID_CURR = {{ model }}.SK_ID_CURR
    {%- endfor %}
)

select
    SK_ID_CURR,
    TARGET,
    DATASET,
    APPLICATION_LOAD_ID,
    {{ feature_hash(features) }} as FEATURE_HASH
    {%- for column in features %},
    {{ column.name }}
    {%- endfor %}
    {{ key_range_column('SK_ID_CURR') }}
from features
