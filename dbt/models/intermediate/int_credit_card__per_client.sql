{#- One row per client with credit card history: the kernel's CC_ aggregates (min, max, mean, sum, sample variance
    of every numeric monthly column), recency windows, utilisation and per-card summaries. -#}
{{ config(unique_key='SK_ID_CURR') }}
{%- set stg = ref('stg_credit_card_balance') -%}
{%- set all_five = ['min', 'max', 'mean', 'sum', 'var'] -%}
{%- set kernel = {} -%}
{%- for column in ['MONTHS_BALANCE', 'AMT_BALANCE', 'AMT_CREDIT_LIMIT_ACTUAL', 'AMT_DRAWINGS_ATM_CURRENT',
                   'AMT_DRAWINGS_CURRENT', 'AMT_DRAWINGS_OTHER_CURRENT', 'AMT_DRAWINGS_POS_CURRENT',
                   'AMT_INST_MIN_REGULARITY', 'AMT_PAYMENT_CURRENT', 'AMT_PAYMENT_TOTAL_CURRENT',
                   'AMT_RECEIVABLE_PRINCIPAL', 'AMT_RECIVABLE', 'AMT_TOTAL_RECEIVABLE', 'CNT_DRAWINGS_ATM_CURRENT',
                   'CNT_DRAWINGS_CURRENT', 'CNT_DRAWINGS_OTHER_CURRENT', 'CNT_DRAWINGS_POS_CURRENT',
                   'CNT_INSTALMENT_MATURE_CUM', 'SK_DPD', 'SK_DPD_DEF'] -%}
    {%- do kernel.update({column: all_five}) -%}
{%- endfor -%}
{%- set window = {'UTILISATION': ['mean', 'max'], 'AMT_BALANCE': ['mean'], 'AMT_DRAWINGS_CURRENT': ['sum'],
                  'SK_DPD': ['max', 'mean'], 'MONTHS_BALANCE': ['size']} -%}
{%- set card = {'UTILISATION_MAX': ['mean', 'max'], 'LAST_UTILISATION': ['mean', 'max'], 'SK_DPD_MAX': ['max'],
                'MONTHS_COUNT': ['mean']} -%}
{%- set changed = only_changed('SK_ID_CURR', new_keys(stg, 'SK_ID_CURR', watermark())) %}

with

monthly as (
    select
        *,
        {{ safe_div('AMT_BALANCE', 'AMT_CREDIT_LIMIT_ACTUAL') }} as UTILISATION
    from {{ stg }}
    {{ changed }}
),

per_month as (
    select
        SK_ID_CURR,
        count(*) as CC_COUNT,
        {{ aggregates(kernel, 'CC_') }},
        {{ category_shares('credit_card_balance', ['NAME_CONTRACT_STATUS'], 'CC_', funcs=all_five) }},
        {{ aggregates({'UTILISATION': ['mean', 'max']}, 'CC_') }},
        {%- for months in var('month_windows') %}
        {{ aggregates(window, 'CC_L' ~ months ~ 'M_', where='MONTHS_BALANCE >= -' ~ months) }},
        {%- endfor %}
        {{ trend('AMT_BALANCE', 'MONTHS_BALANCE') }} as CC_AMT_BALANCE_TREND,
        max(_load_id) as _max_load_id
    from monthly
    group by SK_ID_CURR
),

cards as (
    select
        SK_ID_CURR,
        count(*) as CC_CARDS_COUNT,
        {{ aggregates(card, 'CC_CARD_') }}
    from {{ ref('int_credit_card__per_prev') }}
    {{ changed }}
    group by SK_ID_CURR
),

per_client as (
    select
        per_month.*,
        cards.CC_CARDS_COUNT,
        {{ aggregate_names(card, 'CC_CARD_', 'cards') }}
    from per_month
    left join cards on per_month.SK_ID_CURR = cards.SK_ID_CURR
)

select *{{ key_range_column('SK_ID_CURR') }} from per_client
