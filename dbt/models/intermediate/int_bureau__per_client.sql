{#- One row per client with Credit Bureau credits: the kernel's BURO_ / ACTIVE_ / CLOSED_ aggregates, category
    shares, the per-credit monthly history (int_bureau_balance__per_credit) averaged over credits, and trends. -#}
{{ config(unique_key='SK_ID_CURR') }}
{%- set watermark_id = watermark() -%}
{%- set stg = ref('stg_bureau') -%}
{%- set per_credit = ref('int_bureau_balance__per_credit') -%}
{%- set numeric = {
    'DAYS_CREDIT': ['min', 'max', 'mean', 'var'],
    'DAYS_CREDIT_ENDDATE': ['min', 'max', 'mean'],
    'DAYS_CREDIT_UPDATE': ['mean'],
    'CREDIT_DAY_OVERDUE': ['max', 'mean'],
    'AMT_CREDIT_MAX_OVERDUE': ['mean'],
    'AMT_CREDIT_SUM': ['max', 'mean', 'sum'],
    'AMT_CREDIT_SUM_DEBT': ['max', 'mean', 'sum'],
    'AMT_CREDIT_SUM_OVERDUE': ['mean'],
    'AMT_CREDIT_SUM_LIMIT': ['mean', 'sum'],
    'AMT_ANNUITY': ['max', 'mean'],
    'CNT_CREDIT_PROLONG': ['sum'],
    'MONTHS_BALANCE_MIN': ['min'],
    'MONTHS_BALANCE_MAX': ['max'],
    'MONTHS_BALANCE_SIZE': ['mean', 'sum'],
} -%}
{%- set history = {'DPD_LEVEL_MAX': ['max', 'mean'], 'IS_LATE_MEAN': ['mean'], 'IS_LATE_TW_MEAN': ['mean'],
                   'DEBT_CREDIT_PERC': ['mean', 'max']} -%}
{%- for months in var('month_windows') -%}
    {%- do history.update({'L' ~ months ~ 'M_IS_LATE_MEAN': ['mean', 'max'],
                           'L' ~ months ~ 'M_MONTHS_BALANCE_SIZE': ['sum']}) -%}
{%- endfor -%}
{%- set status_shares = {} -%}
{%- for pair in domain_of('bureau_balance', 'STATUS') + [[none, 'NAN']] -%}
    {%- do status_shares.update({'STATUS_' ~ pair[1] ~ '_MEAN': ['mean']}) -%}
{%- endfor %}

with

credits as (
    -- A credit's monthly history (NULL without one) beside its own columns.
    select
        *,
        {{ safe_div('AMT_CREDIT_SUM_DEBT', 'AMT_CREDIT_SUM') }} as DEBT_CREDIT_PERC,
        greatest(_load_id, coalesce(_max_load_id, -1)) as _row_load_id
    from {{ stg }}
    left join {{ per_credit }} using (SK_ID_BUREAU)
    {% if is_incremental() -%}
    where {{ keys_in('SK_ID_CURR', new_keys(stg, 'SK_ID_CURR', watermark_id) ~ '
        union
        select SK_ID_CURR from ' ~ stg ~ ' where SK_ID_BUREAU in (
            ' ~ new_keys(per_credit, 'SK_ID_BUREAU', watermark_id, '_max_load_id') ~ ')') }}
    {%- endif %}
),

per_client as (
    select
        SK_ID_CURR,
        count(*) as BURO_COUNT,
        {{ aggregates(numeric, 'BURO_') }},
        {{ category_shares('bureau', ['CREDIT_ACTIVE', 'CREDIT_CURRENCY', 'CREDIT_TYPE'], 'BURO_') }},
        {{ aggregates(status_shares, 'BURO_') }},
        {{ aggregates(history, 'BURO_') }},
        {{ safe_div('sum(AMT_CREDIT_SUM_DEBT)', 'sum(AMT_CREDIT_SUM)') }} as BURO_TOTAL_DEBT_CREDIT_PERC,
        {{ safe_div('sum(AMT_CREDIT_SUM_OVERDUE)', 'sum(AMT_CREDIT_SUM_DEBT)') }} as BURO_TOTAL_OVERDUE_DEBT_PERC,
        {{ trend('AMT_CREDIT_SUM', 'DAYS_CREDIT') }} as BURO_AMT_CREDIT_SUM_TREND,
        {%- for status in ['Active', 'Closed'] %}
        {%- set subset = "CREDIT_ACTIVE = '" ~ status ~ "'" %}
        {{ agg_sql('size', none, subset) }} as {{ status | upper }}_COUNT,
        {{ aggregates(numeric, status | upper ~ '_', where=subset) }},
        {%- endfor %}
        max(_row_load_id) as _max_load_id
    from credits
    group by SK_ID_CURR
)

select *{{ key_range_column('SK_ID_CURR') }} from per_client
