{#- One row per client with instalment history: the kernel's INSTAL_ aggregates (DPD / DBD clipped at 0,
    PAYMENT_PERC, PAYMENT_DIFF), the last instalments, the last year, trends and per-loan summaries. -#}
{{ config(unique_key='SK_ID_CURR') }}
{%- set stg = ref('stg_installments_payments') -%}
{%- set kernel = {
    'NUM_INSTALMENT_VERSION': ['nunique'],
    'DPD': ['max', 'mean', 'sum'],
    'DBD': ['max', 'mean', 'sum'],
    'PAYMENT_PERC': ['max', 'mean', 'sum', 'var'],
    'PAYMENT_DIFF': ['max', 'mean', 'sum', 'var'],
    'AMT_INSTALMENT': ['max', 'mean', 'sum'],
    'AMT_PAYMENT': ['min', 'max', 'mean', 'sum'],
    'DAYS_ENTRY_PAYMENT': ['max', 'mean', 'sum'],
} -%}
{%- set recent = {'DPD': ['max', 'mean'], 'DBD': ['mean'], 'PAYMENT_PERC': ['mean'], 'PAYMENT_DIFF': ['mean'],
                  'IS_LATE': ['mean']} -%}
{%- set loan = {'LATE_PERC': ['mean', 'max'], 'PAID_PERC': ['mean', 'min'], 'DPD_MAX': ['mean'],
                'INSTALMENTS_NUNIQUE': ['mean', 'sum']} -%}
{%- set changed = only_changed('SK_ID_CURR', new_keys(stg, 'SK_ID_CURR', watermark())) -%}
{%- set last_n = var('last_instalments') %}

{#- The per-payment measures, written once and computed where they are read (a CTE read twice would be
    materialised whole: 13 million rows of every column). -#}
{%- set measures = {
    'DPD': clip_lower('DAYS_ENTRY_PAYMENT - DAYS_INSTALMENT'),
    'DBD': clip_lower('DAYS_INSTALMENT - DAYS_ENTRY_PAYMENT'),
    'PAYMENT_PERC': safe_div('AMT_PAYMENT', 'AMT_INSTALMENT'),
    'PAYMENT_DIFF': 'AMT_INSTALMENT - AMT_PAYMENT',
    'IS_LATE': 'case when DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT then 1 when DAYS_ENTRY_PAYMENT <= DAYS_INSTALMENT then 0 end',
} %}

with

payments as (
    select
        *
        {%- for name, expr in measures.items() %},
        {{ expr }} as {{ name }}
        {%- endfor %}
    from {{ stg }}
    {{ changed }}
),

-- The client's most recent payments: ranked on the few columns the order and the measures need (cheap to sort),
-- straight from staging.
recent_payments as (
    select
        SK_ID_CURR,
        {%- for name in recent %}
        {{ measures[name] }} as {{ name }},
        {%- endfor %}
        row_number() over (partition by SK_ID_CURR
                           order by DAYS_INSTALMENT desc nulls last, SK_ID_PREV desc,
                                    NUM_INSTALMENT_NUMBER desc, DAYS_ENTRY_PAYMENT desc nulls last,
                                    AMT_PAYMENT desc nulls last) as RECENT_RANK
    from {{ stg }}
    {{ changed }}
),

last_payments as (
    select
        SK_ID_CURR,
        {{ aggregates(recent, 'INSTAL_LAST' ~ last_n ~ '_') }}
    from recent_payments
    where RECENT_RANK <= {{ last_n }}
    group by SK_ID_CURR
),

per_payment as (
    select
        SK_ID_CURR,
        count(*) as INSTAL_COUNT,
        {{ aggregates(kernel, 'INSTAL_') }},
        {{ aggregates(recent, 'INSTAL_L365D_', where='DAYS_INSTALMENT >= -365') }},
        {{ agg_sql('size', none, 'DAYS_INSTALMENT >= -365') }} as INSTAL_L365D_COUNT,
        {{ trend('DPD', 'DAYS_INSTALMENT') }} as INSTAL_DPD_TREND,
        {{ safe_div('sum(DPD / (1 - least(DAYS_INSTALMENT, 0) / 30.0))',
                    'sum(case when DPD is not null then 1.0 / (1 - least(DAYS_INSTALMENT, 0) / 30.0) end)') }}
            as INSTAL_DPD_TW_MEAN,
        max(_load_id) as _max_load_id
    from payments
    group by SK_ID_CURR
),

loans as (
    select
        SK_ID_CURR,
        count(*) as INSTAL_LOANS_COUNT,
        {{ aggregates(loan, 'INSTAL_LOAN_') }}
    from {{ ref('int_installments__per_prev') }}
    {{ changed }}
    group by SK_ID_CURR
),

per_client as (
    select
        per_payment.SK_ID_CURR,
        per_payment.INSTAL_COUNT,
        {{ aggregate_names(kernel, 'INSTAL_', 'per_payment') }},
        {{ aggregate_names(recent, 'INSTAL_LAST' ~ last_n ~ '_', 'last_payments') }},
        {{ aggregate_names(recent, 'INSTAL_L365D_', 'per_payment') }},
        per_payment.INSTAL_L365D_COUNT,
        per_payment.INSTAL_DPD_TREND,
        per_payment.INSTAL_DPD_TW_MEAN,
        loans.INSTAL_LOANS_COUNT,
        {{ aggregate_names(loan, 'INSTAL_LOAN_', 'loans') }},
        per_payment._max_load_id
    from per_payment
    inner join last_payments on per_payment.SK_ID_CURR = last_payments.SK_ID_CURR
    left join loans on per_payment.SK_ID_CURR = loans.SK_ID_CURR
)

select *{{ key_range_column('SK_ID_CURR') }} from per_client
