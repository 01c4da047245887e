{#- One row per previous point-of-sale / cash loan with monthly history: its length, lateness and state at the
    latest month. -#}
{{ config(unique_key='SK_ID_PREV') }}
{%- set watermark_id = watermark() -%}
{%- set stg = ref('stg_POS_CASH_balance') %}

select
    SK_ID_PREV,
    min(SK_ID_CURR) as SK_ID_CURR,
    count(*) as MONTHS_COUNT,
    max(SK_DPD) as SK_DPD_MAX,
    coalesce(max((NAME_CONTRACT_STATUS = 'Completed')::INTEGER), 0) as IS_COMPLETED,
    arg_max(CNT_INSTALMENT_FUTURE, MONTHS_BALANCE) as LAST_CNT_INSTALMENT_FUTURE,
    {{ safe_div('arg_max(CNT_INSTALMENT_FUTURE, MONTHS_BALANCE)', 'arg_max(CNT_INSTALMENT, MONTHS_BALANCE)') }}
        as LAST_REMAINING_PERC,
    max(_load_id) as _max_load_id
from {{ stg }}
{{ only_changed('SK_ID_PREV', new_keys(stg, 'SK_ID_PREV', watermark_id)) }}
group by SK_ID_PREV
