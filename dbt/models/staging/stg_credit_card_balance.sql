-- Monthly snapshots of previous credit cards, one row per card and month: typed as the contract says (_sources.yml),
-- the DAYS_* no-date code and the XNA / XAP categories set to NULL, impossible values flagged.

with

source as (
    select * from {{ source('raw', 'credit_card_balance') }}
),

cleaned as (
    select
        cast(SK_ID_PREV as bigint) as SK_ID_PREV,
        cast(SK_ID_CURR as bigint) as SK_ID_CURR,
        cast(MONTHS_BALANCE as bigint) as MONTHS_BALANCE,
        cast(AMT_BALANCE as double) as AMT_BALANCE,
        cast(AMT_CREDIT_LIMIT_ACTUAL as bigint) as AMT_CREDIT_LIMIT_ACTUAL,
        cast(AMT_DRAWINGS_ATM_CURRENT as double) as AMT_DRAWINGS_ATM_CURRENT,
        cast(AMT_DRAWINGS_CURRENT as double) as AMT_DRAWINGS_CURRENT,
        cast(AMT_DRAWINGS_OTHER_CURRENT as double) as AMT_DRAWINGS_OTHER_CURRENT,
        cast(AMT_DRAWINGS_POS_CURRENT as double) as AMT_DRAWINGS_POS_CURRENT,
        cast(AMT_INST_MIN_REGULARITY as double) as AMT_INST_MIN_REGULARITY,
        cast(AMT_PAYMENT_CURRENT as double) as AMT_PAYMENT_CURRENT,
        cast(AMT_PAYMENT_TOTAL_CURRENT as double) as AMT_PAYMENT_TOTAL_CURRENT,
        cast(AMT_RECEIVABLE_PRINCIPAL as double) as AMT_RECEIVABLE_PRINCIPAL,
        cast(AMT_RECIVABLE as double) as AMT_RECIVABLE,
        cast(AMT_TOTAL_RECEIVABLE as double) as AMT_TOTAL_RECEIVABLE,
        cast(CNT_DRAWINGS_ATM_CURRENT as double) as CNT_DRAWINGS_ATM_CURRENT,
        cast(CNT_DRAWINGS_CURRENT as bigint) as CNT_DRAWINGS_CURRENT,
        cast(CNT_DRAWINGS_OTHER_CURRENT as double) as CNT_DRAWINGS_OTHER_CURRENT,
        cast(CNT_DRAWINGS_POS_CURRENT as double) as CNT_DRAWINGS_POS_CURRENT,
        cast(CNT_INSTALMENT_MATURE_CUM as double) as CNT_INSTALMENT_MATURE_CUM,
        cast(NAME_CONTRACT_STATUS as string) as NAME_CONTRACT_STATUS,
        cast(SK_DPD as bigint) as SK_DPD,
        cast(SK_DPD_DEF as bigint) as SK_DPD_DEF,
        _load_id,
        -- data-quality flags: 1 marks an impossible value (the row is kept)
        case when AMT_CREDIT_LIMIT_ACTUAL < 0 then 1 else 0 end as FLAG_IMPOSSIBLE_LIMIT
    from source
)

select * from cleaned
