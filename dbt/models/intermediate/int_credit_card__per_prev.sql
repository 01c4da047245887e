{#- One row per previous credit card with monthly history: its length, utilisation and lateness. -#}
{{ config(unique_key='SK_ID_PREV') }}
{%- set stg = ref('stg_credit_card_balance') %}

with

monthly as (
    select
        *,
        {{ safe_div('AMT_BALANCE', 'AMT_CREDIT_LIMIT_ACTUAL') }} as UTILISATION
    from {{ stg }}
    {{ only_changed('SK_ID_PREV', new_keys(stg, 'SK_ID_PREV', watermark())) }}
),

per_card as (
    select
        SK_ID_PREV,
        min(SK_ID_CURR) as SK_ID_CURR,
        count(*) as MONTHS_COUNT,
        max(UTILISATION) as UTILISATION_MAX,
        {{ last_non_null('UTILISATION', 'MONTHS_BALANCE') }} as LAST_UTILISATION,
        max(SK_DPD) as SK_DPD_MAX,
        max(_load_id) as _max_load_id
    from monthly
    group by SK_ID_PREV
)

select *{{ key_range_column('SK_ID_PREV') }} from per_card
