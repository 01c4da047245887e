{#- One row per client with point-of-sale / cash loan history: the kernel's POS_ aggregates over monthly rows,
    recency windows, a time-weighted lateness, and per-loan summaries (int_pos__per_prev). -#}
{{ config(unique_key='SK_ID_CURR') }}
{%- set stg = ref('stg_POS_CASH_balance') -%}
{%- set kernel = {'MONTHS_BALANCE': ['max', 'mean', 'size'], 'SK_DPD': ['max', 'mean'],
                  'SK_DPD_DEF': ['max', 'mean']} -%}
{%- set window = {'MONTHS_BALANCE': ['size'], 'SK_DPD': ['max', 'mean'], 'SK_DPD_DEF': ['max', 'mean']} -%}
{%- set loan = {'IS_COMPLETED': ['mean'], 'LAST_CNT_INSTALMENT_FUTURE': ['sum', 'max'],
                'LAST_REMAINING_PERC': ['mean'], 'SK_DPD_MAX': ['mean'], 'MONTHS_COUNT': ['mean', 'max']} -%}
{%- set changed = only_changed('SK_ID_CURR', new_keys(stg, 'SK_ID_CURR', watermark())) %}

with

monthly as (
    select
        SK_ID_CURR,
        count(*) as POS_COUNT,
        {{ aggregates(kernel, 'POS_') }},
        {{ category_shares('POS_CASH_balance', ['NAME_CONTRACT_STATUS'], 'POS_') }},
        {%- for months in var('month_windows') %}
        {{ aggregates(window, 'POS_L' ~ months ~ 'M_', where='MONTHS_BALANCE >= -' ~ months) }},
        {%- endfor %}
        {{ safe_div('sum(SK_DPD / (1 - least(MONTHS_BALANCE, 0)))',
                    'sum(case when SK_DPD is not null then cast(1 as double) / (1 - least(MONTHS_BALANCE, 0)) end)') }}
            as POS_SK_DPD_TW_MEAN,
        {{ trend('SK_DPD', 'MONTHS_BALANCE') }} as POS_SK_DPD_TREND,
        max(_load_id) as _max_load_id
    from {{ stg }}
    {{ changed }}
    group by SK_ID_CURR
),

loans as (
    select
        SK_ID_CURR,
        count(*) as POS_LOANS_COUNT,
        {{ aggregates(loan, 'POS_LOAN_') }}
    from {{ ref('int_pos__per_prev') }}
    {{ changed }}
    group by SK_ID_CURR
),

per_client as (
    select
        monthly.*,
        loans.POS_LOANS_COUNT,
        {{ aggregate_names(loan, 'POS_LOAN_', 'loans') }}
    from monthly
    left join loans on monthly.SK_ID_CURR = loans.SK_ID_CURR
)

select *{{ key_range_column('SK_ID_CURR') }} from per_client
