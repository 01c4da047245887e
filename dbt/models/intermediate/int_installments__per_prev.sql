{#- One row per previous loan with repayment history: how many instalments, how late and how fully paid. -#}
{{ config(unique_key='SK_ID_PREV') }}
{%- set watermark_id = watermark() -%}
{%- set stg = ref('stg_installments_payments') %}

select
    SK_ID_PREV,
    min(SK_ID_CURR) as SK_ID_CURR,
    count(*) as PAYMENTS_COUNT,
    count(distinct NUM_INSTALMENT_NUMBER) as INSTALMENTS_NUNIQUE,
    max({{ clip_lower('DAYS_ENTRY_PAYMENT - DAYS_INSTALMENT') }}) as DPD_MAX,
    avg((DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT)::INTEGER) as LATE_PERC,
    {{ safe_div('sum(AMT_PAYMENT)', 'sum(AMT_INSTALMENT)') }} as PAID_PERC,
    max(_load_id) as _max_load_id
from {{ stg }}
{{ only_changed('SK_ID_PREV', new_keys(stg, 'SK_ID_PREV', watermark_id)) }}
group by SK_ID_PREV
