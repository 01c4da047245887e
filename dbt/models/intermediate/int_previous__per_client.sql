{#- One row per client with previous Home Credit applications: the kernel's PREV_ / APPROVED_ / REFUSED_
    aggregates, category shares, the last and first applications, estimated interest rates and trends. -#}
{{ config(unique_key='SK_ID_CURR') }}
{%- set stg = ref('stg_previous_application') -%}
{%- set numeric = {
    'AMT_ANNUITY': ['min', 'max', 'mean'],
    'AMT_APPLICATION': ['min', 'max', 'mean'],
    'AMT_CREDIT': ['min', 'max', 'mean'],
    'APP_CREDIT_PERC': ['min', 'max', 'mean', 'var'],
    'AMT_DOWN_PAYMENT': ['min', 'max', 'mean'],
    'AMT_GOODS_PRICE': ['min', 'max', 'mean'],
    'HOUR_APPR_PROCESS_START': ['min', 'max', 'mean'],
    'RATE_DOWN_PAYMENT': ['min', 'max', 'mean'],
    'DAYS_DECISION': ['min', 'max', 'mean'],
    'CNT_PAYMENT': ['mean', 'sum'],
} -%}
{%- set extra = {
    'SIMPLE_INTEREST_RATE': ['min', 'max', 'mean'],
    'TOTAL_PAYMENT_PERC': ['max', 'mean'],
    'DAYS_LAST_DUE_1ST_VERSION': ['max', 'mean'],
    'DAYS_TERMINATION': ['max'],
} -%}
{%- set recent = {'AMT_CREDIT': ['mean'], 'APP_CREDIT_PERC': ['mean'], 'IS_REFUSED': ['mean'],
                  'CNT_PAYMENT': ['mean'], 'DAYS_DECISION': ['mean'], 'SIMPLE_INTEREST_RATE': ['mean']} -%}
{%- set categorical = categorical_columns('previous_application') | map(attribute='name') | list -%}
{%- set last_n, first_n = var('last_applications'), var('first_applications') %}

with

-- The order of each client's applications by decision date (on the three columns it needs: cheap to sort).
ranks as (
    select
        SK_ID_PREV,
        row_number() over (partition by SK_ID_CURR order by DAYS_DECISION desc nulls last, SK_ID_PREV desc)
            as RECENT_RANK,
        row_number() over (partition by SK_ID_CURR order by DAYS_DECISION asc nulls last, SK_ID_PREV asc)
            as FIRST_RANK
    from {{ stg }}
    {{ only_changed('SK_ID_CURR', new_keys(stg, 'SK_ID_CURR', watermark())) }}
),

applications as (
    select
        *,
        {{ safe_div('AMT_APPLICATION', 'AMT_CREDIT') }} as APP_CREDIT_PERC,
        -- Yearly simple interest implied by CNT_PAYMENT monthly annuities repaying AMT_CREDIT.
        {{ safe_div('AMT_ANNUITY * CNT_PAYMENT - AMT_CREDIT', 'AMT_CREDIT * CNT_PAYMENT / 12') }}
            as SIMPLE_INTEREST_RATE,
        {{ safe_div('AMT_ANNUITY * CNT_PAYMENT', 'AMT_CREDIT') }} as TOTAL_PAYMENT_PERC,
        case when NAME_CONTRACT_STATUS = 'Refused' then 1 else 0 end as IS_REFUSED
    from {{ stg }}
    inner join ranks using (SK_ID_PREV)
),

per_client as (
    select
        SK_ID_CURR,
        count(*) as PREV_COUNT,
        {{ aggregates(numeric, 'PREV_') }},
        {{ category_shares('previous_application', categorical, 'PREV_') }},
        {{ aggregates(extra, 'PREV_') }},
        {%- for status in ['Approved', 'Refused'] %}
        {%- set subset = "NAME_CONTRACT_STATUS = '" ~ status ~ "'" %}
        {{ agg_sql('size', none, subset) }} as {{ status | upper }}_COUNT,
        {{ aggregates(numeric, status | upper ~ '_', where=subset) }},
        {%- endfor %}
        {{ aggregates(extra, 'APPROVED_', where="NAME_CONTRACT_STATUS = 'Approved'") }},
        {{ aggregates(recent, 'PREV_LAST' ~ last_n ~ '_', where='RECENT_RANK <= ' ~ last_n) }},
        {{ aggregates(recent, 'PREV_FIRST' ~ first_n ~ '_', where='FIRST_RANK <= ' ~ first_n) }},
        {{ trend('AMT_CREDIT', 'DAYS_DECISION') }} as PREV_AMT_CREDIT_TREND,
        max(_load_id) as _max_load_id
    from applications
    group by SK_ID_CURR
)

select *{{ key_range_column('SK_ID_CURR') }} from per_client
