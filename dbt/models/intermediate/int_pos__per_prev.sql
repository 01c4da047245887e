{#- One row per previous point-of-sale / cash loan with monthly history: its length, lateness and state at the
    latest month. -#}
{{ config(unique_key='SK_ID_PREV') }}
{%- set stg = ref('stg_POS_CASH_balance') %}

with

monthly as (
    select * from {{ stg }}
    {{ only_changed('SK_ID_PREV', new_keys(stg, 'SK_ID_PREV', watermark())) }}
),

per_loan as (
    select
        SK_ID_PREV,
        min(SK_ID_CURR) as SK_ID_CURR,
        count(*) as MONTHS_COUNT,
        max(SK_DPD) as SK_DPD_MAX,
        coalesce(max(case when NAME_CONTRACT_STATUS = 'Completed' then 1 else 0 end), 0) as IS_COMPLETED,
        {{ last_non_null('CNT_INSTALMENT_FUTURE', 'MONTHS_BALANCE') }} as LAST_CNT_INSTALMENT_FUTURE,
        {{ safe_div(last_non_null('CNT_INSTALMENT_FUTURE', 'MONTHS_BALANCE'),
                    last_non_null('CNT_INSTALMENT', 'MONTHS_BALANCE')) }}
            as LAST_REMAINING_PERC,
        max(_load_id) as _max_load_id
    from monthly
    group by SK_ID_PREV
)

select *{{ key_range_column('SK_ID_PREV') }} from per_loan
