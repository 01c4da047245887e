{#- One row per previous loan with repayment history: how many instalments, how late and how fully paid. -#}
{{ config(unique_key='SK_ID_PREV') }}
{%- set stg = ref('stg_installments_payments') %}

with

payments as (
    select * from {{ stg }}
    {{ only_changed('SK_ID_PREV', new_keys(stg, 'SK_ID_PREV', watermark())) }}
),

per_loan as (
    select
        SK_ID_PREV,
        min(SK_ID_CURR) as SK_ID_CURR,
        count(*) as PAYMENTS_COUNT,
        {{ agg_sql('nunique', 'NUM_INSTALMENT_NUMBER') }} as INSTALMENTS_NUNIQUE,
        max({{ clip_lower('DAYS_ENTRY_PAYMENT - DAYS_INSTALMENT') }}) as DPD_MAX,
        avg(case when DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT then 1 when DAYS_ENTRY_PAYMENT <= DAYS_INSTALMENT then 0 end)
            as LATE_PERC,
        {{ safe_div('sum(AMT_PAYMENT)', 'sum(AMT_INSTALMENT)') }} as PAID_PERC,
        max(_load_id) as _max_load_id
    from payments
    group by SK_ID_PREV
)

select *{{ key_range_column('SK_ID_PREV') }} from per_loan
