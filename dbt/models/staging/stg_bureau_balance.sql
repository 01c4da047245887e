-- Monthly status of Credit Bureau credits, one row per credit and month: typed as the contract says (_sources.yml),
-- the DAYS_* no-date code and the XNA / XAP categories set to NULL, impossible values flagged.

with

source as (
    select * from {{ source('raw', 'bureau_balance') }}
),

cleaned as (
    select
        cast(SK_ID_BUREAU as bigint) as SK_ID_BUREAU,
        cast(MONTHS_BALANCE as bigint) as MONTHS_BALANCE,
        cast(STATUS as string) as STATUS,
        _load_id,
        -- data-quality flags: 1 marks an impossible value (the row is kept)
        case when MONTHS_BALANCE > 0 then 1 else 0 end as FLAG_IMPOSSIBLE_MONTH
    from source
)

select * from cleaned
