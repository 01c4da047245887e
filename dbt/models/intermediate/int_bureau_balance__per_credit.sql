{#- One row per Credit Bureau credit with monthly history: month counts, status shares, recency windows. -#}
{{ config(unique_key='SK_ID_BUREAU') }}
{%- set stg = ref('stg_bureau_balance') %}

with

balance as (
    select
        SK_ID_BUREAU,
        MONTHS_BALANCE,
        STATUS,
        -- 0 = on time, 1..5 = increasingly late (see STATUS); NULL for C (closed) and X (unknown).
        case when STATUS in ('0', '1', '2', '3', '4', '5') then cast(STATUS as integer) end as DPD_LEVEL,
        case when STATUS in ('1', '2', '3', '4', '5') then 1 else 0 end as IS_LATE,
        cast(1 as double) / (1 - least(MONTHS_BALANCE, 0)) as RECENCY_WEIGHT,
        _load_id
    from {{ stg }}
    {{ only_changed('SK_ID_BUREAU', new_keys(stg, 'SK_ID_BUREAU', watermark())) }}
),

per_credit as (
    select
        SK_ID_BUREAU,
        {{ aggregates({'MONTHS_BALANCE': ['min', 'max', 'size'], 'DPD_LEVEL': ['max', 'mean'],
                       'IS_LATE': ['mean']}, '') }},
        {{ category_shares('bureau_balance', ['STATUS'], '') }},
        {%- for months in var('month_windows') %}
        {{ aggregates({'MONTHS_BALANCE': ['size'], 'IS_LATE': ['mean']}, 'L' ~ months ~ 'M_',
                      where='MONTHS_BALANCE >= -' ~ months) }},
        {%- endfor %}
        {{ safe_div('sum(IS_LATE * RECENCY_WEIGHT)', 'sum(RECENCY_WEIGHT)') }} as IS_LATE_TW_MEAN,
        max(_load_id) as _max_load_id
    from balance
    group by SK_ID_BUREAU
)

select *{{ key_range_column('SK_ID_BUREAU') }} from per_credit
