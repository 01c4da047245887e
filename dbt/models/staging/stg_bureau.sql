-- Credit Bureau credits, one row per credit: typed as the contract says (_sources.yml), the DAYS_* no-date code and
-- the XNA / XAP categories set to NULL, impossible values flagged.

with

source as (
    select * from {{ source('raw', 'bureau') }}
),

cleaned as (
    select
        cast(SK_ID_CURR as bigint) as SK_ID_CURR,
        cast(SK_ID_BUREAU as bigint) as SK_ID_BUREAU,
        cast(CREDIT_ACTIVE as string) as CREDIT_ACTIVE,
        cast(CREDIT_CURRENCY as string) as CREDIT_CURRENCY,
        cast({{ no_date('DAYS_CREDIT') }} as bigint) as DAYS_CREDIT,
        cast(CREDIT_DAY_OVERDUE as bigint) as CREDIT_DAY_OVERDUE,
        cast({{ no_date('DAYS_CREDIT_ENDDATE') }} as double) as DAYS_CREDIT_ENDDATE,
        cast({{ no_date('DAYS_ENDDATE_FACT') }} as double) as DAYS_ENDDATE_FACT,
        cast(AMT_CREDIT_MAX_OVERDUE as double) as AMT_CREDIT_MAX_OVERDUE,
        cast(CNT_CREDIT_PROLONG as bigint) as CNT_CREDIT_PROLONG,
        cast(AMT_CREDIT_SUM as double) as AMT_CREDIT_SUM,
        cast(AMT_CREDIT_SUM_DEBT as double) as AMT_CREDIT_SUM_DEBT,
        cast(AMT_CREDIT_SUM_LIMIT as double) as AMT_CREDIT_SUM_LIMIT,
        cast(AMT_CREDIT_SUM_OVERDUE as double) as AMT_CREDIT_SUM_OVERDUE,
        cast(CREDIT_TYPE as string) as CREDIT_TYPE,
        cast({{ no_date('DAYS_CREDIT_UPDATE') }} as bigint) as DAYS_CREDIT_UPDATE,
        cast(AMT_ANNUITY as double) as AMT_ANNUITY,
        _load_id,
        -- data-quality flags: 1 marks an impossible value (the row is kept)
        case when DAYS_CREDIT > 0 then 1 else 0 end as FLAG_IMPOSSIBLE_DAYS_CREDIT,
        case
            when AMT_CREDIT_SUM < 0 or AMT_CREDIT_SUM_DEBT < 0 or AMT_CREDIT_SUM_OVERDUE < 0 then 1 else 0
        end as FLAG_NEGATIVE_AMOUNT
    from source
)

select * from cleaned
