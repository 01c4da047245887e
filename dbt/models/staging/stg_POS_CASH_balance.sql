-- Monthly snapshots of previous POS / cash loans, one row per loan and month: typed as the contract says
-- (_sources.yml), the DAYS_* no-date code and the XNA / XAP categories set to NULL, impossible values flagged.

with

source as (
    select * from {{ source('raw', 'POS_CASH_balance') }}
),

cleaned as (
    select
        cast(SK_ID_PREV as bigint) as SK_ID_PREV,
        cast(SK_ID_CURR as bigint) as SK_ID_CURR,
        cast(MONTHS_BALANCE as bigint) as MONTHS_BALANCE,
        cast(CNT_INSTALMENT as double) as CNT_INSTALMENT,
        cast(CNT_INSTALMENT_FUTURE as double) as CNT_INSTALMENT_FUTURE,
        cast({{ not_available('NAME_CONTRACT_STATUS') }} as string) as NAME_CONTRACT_STATUS,
        cast(SK_DPD as bigint) as SK_DPD,
        cast(SK_DPD_DEF as bigint) as SK_DPD_DEF,
        _load_id,
        -- data-quality flags: 1 marks an impossible value (the row is kept)
        case when SK_DPD < 0 or SK_DPD_DEF < 0 then 1 else 0 end as FLAG_IMPOSSIBLE_DPD
    from source
)

select * from cleaned
