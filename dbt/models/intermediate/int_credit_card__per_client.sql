{#- One row per client with credit card history: the kernel's CC_ aggregates (min, max, mean, sum, sample variance
    of every monthly column), recency windows, utilisation and per-card summaries. -#}
{{ config(unique_key='SK_ID_CURR') }}
{%- set watermark_id = watermark() -%}
{%- set stg = ref('stg_credit_card_balance') -%}
{%- set all_five = ['min', 'max', 'mean', 'sum', 'var'] -%}
{%- set kernel = {} -%}
{%- for c in raw_contract()['credit_card_balance'].columns
       if c.type != 'VARCHAR' and c.name not in ('SK_ID_PREV', 'SK_ID_CURR') -%}
    {%- do kernel.update({c.name: all_five}) -%}
{%- endfor -%}
{%- set window = {'UTILISATION': ['mean', 'max'], 'AMT_BALANCE': ['mean'], 'AMT_DRAWINGS_CURRENT': ['sum'],
                  'SK_DPD': ['max', 'mean'], 'MONTHS_BALANCE': ['size']} -%}
{%- set card = {'UTILISATION_MAX': ['mean', 'max'], 'LAST_UTILISATION': ['mean', 'max'], 'SK_DPD_MAX': ['max'],
                'MONTHS_COUNT': ['mean']} -%}
{%- set changed = only_changed('SK_ID_CURR', new_keys(stg, 'SK_ID_CURR', watermark_id)) %}

with monthly as (
    select
        *,
        {{ safe_div('AMT_BALANCE', 'AMT_CREDIT_LIMIT_ACTUAL') }} as UTILISATION
    from {{ stg }}
    {{ changed }}
),

per_row as (
    select
        SK_ID_CURR,
        count(*) as CC_COUNT,
        {{ aggregates(kernel, 'CC_') }},
        {{ category_shares('credit_card_balance', ['NAME_CONTRACT_STATUS'], 'CC_', funcs=all_five) }},
        {{ aggregates({'UTILISATION': ['mean', 'max']}, 'CC_') }},
        {%- for months in var('month_windows') %}
        {{ aggregates(window, 'CC_L' ~ months ~ 'M_', where='MONTHS_BALANCE >= -' ~ months) }},
        {%- endfor %}
        {{ trend("AMT_BALANCE", "MONTHS_BALANCE") }} as CC_AMT_BALANCE_TREND,
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
)

select per_row.* exclude (_max_load_id), cards.* exclude (SK_ID_CURR), per_row._max_load_id
from per_row
left join cards using (SK_ID_CURR)
