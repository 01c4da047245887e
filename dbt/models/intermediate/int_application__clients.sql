{#- One row per client of application_train and application_test: the application's numeric columns, binary and
    one-hot encodings of its categories, the data-quality flags and the kernel's ratios. -#}
{{ config(unique_key='SK_ID_CURR') }}
{%- set binary = {'CODE_GENDER': 'M', 'FLAG_OWN_CAR': 'Y', 'FLAG_OWN_REALTY': 'Y'} -%}
{%- set numeric, categorical = [], [] -%}
{%- for column in raw_columns('application_test') if column.name not in ('SK_ID_CURR', '_load_id') -%}
    {%- if column.dtype | upper not in ('VARCHAR', 'STRING') -%}{%- do numeric.append(column.name) -%}
    {%- elif column.name not in binary -%}{%- do categorical.append(column.name) -%}
    {%- endif -%}
{%- endfor %}

with

applications as (
    select * from {{ ref('stg_applications') }}
    {{ new_rows('SK_ID_CURR', ref('stg_applications'), watermark()) }}
),

features as (
    select
        SK_ID_CURR,
        TARGET,
        DATASET,
        _load_id as APPLICATION_LOAD_ID,
        {{ numeric | join(',\n        ') }},
        {%- for name, value in binary.items() %}
        case when {{ name }} = '{{ value }}' then 1 when {{ name }} is not null then 0 end as {{ name }},
        {%- endfor %}
        DAYS_EMPLOYED_ANOM,
        FLAG_IMPOSSIBLE_INCOME,
        FLAG_IMPOSSIBLE_CREDIT,
        FLAG_IMPOSSIBLE_AGE,
        {{ one_hot('application_test', categorical) }},
        {{ safe_div('DAYS_EMPLOYED', 'DAYS_BIRTH') }} as DAYS_EMPLOYED_PERC,
        {{ safe_div('AMT_INCOME_TOTAL', 'AMT_CREDIT') }} as INCOME_CREDIT_PERC,
        {{ safe_div('AMT_INCOME_TOTAL', 'CNT_FAM_MEMBERS') }} as INCOME_PER_PERSON,
        {{ safe_div('AMT_ANNUITY', 'AMT_INCOME_TOTAL') }} as ANNUITY_INCOME_PERC,
        {{ safe_div('AMT_ANNUITY', 'AMT_CREDIT') }} as PAYMENT_RATE,
        {{ safe_div('AMT_GOODS_PRICE', 'AMT_CREDIT') }} as GOODS_CREDIT_PERC,
        {{ safe_div('AMT_CREDIT', 'AMT_ANNUITY') }} as CREDIT_ANNUITY_RATIO,
        -DAYS_BIRTH / cast(365.25 as double) as AGE_YEARS,
        {{ safe_div('coalesce(EXT_SOURCE_1, 0) + coalesce(EXT_SOURCE_2, 0) + coalesce(EXT_SOURCE_3, 0)',
                    'case when EXT_SOURCE_1 is null then 0 else 1 end'
                    ~ ' + case when EXT_SOURCE_2 is null then 0 else 1 end'
                    ~ ' + case when EXT_SOURCE_3 is null then 0 else 1 end') }} as EXT_SOURCES_MEAN,
        least(EXT_SOURCE_1, EXT_SOURCE_2, EXT_SOURCE_3) as EXT_SOURCES_MIN,
        greatest(EXT_SOURCE_1, EXT_SOURCE_2, EXT_SOURCE_3) as EXT_SOURCES_MAX,
        EXT_SOURCE_1 * EXT_SOURCE_2 * EXT_SOURCE_3 as EXT_SOURCES_PROD,
        _load_id as _max_load_id
    from applications
)

select *{{ key_range_column('SK_ID_CURR') }} from features
{{ full_row_groups('SK_ID_CURR') }}
