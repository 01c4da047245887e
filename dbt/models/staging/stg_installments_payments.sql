-- Instalment payments of previous loans, one row per payment: typed as the contract says (_sources.yml), the DAYS_*
-- no-date code and the XNA / XAP categories set to NULL, impossible values flagged.

with

source as (
    select * from {{ source('raw', 'installments_payments') }}
),

cleaned as (
    select
        cast(SK_ID_PREV as bigint) as SK_ID_PREV,
        cast(SK_ID_CURR as bigint) as SK_ID_CURR,
        cast(NUM_INSTALMENT_VERSION as double) as NUM_INSTALMENT_VERSION,
        cast(NUM_INSTALMENT_NUMBER as bigint) as NUM_INSTALMENT_NUMBER,
        cast({{ no_date('DAYS_INSTALMENT') }} as double) as DAYS_INSTALMENT,
        cast({{ no_date('DAYS_ENTRY_PAYMENT') }} as double) as DAYS_ENTRY_PAYMENT,
        cast(AMT_INSTALMENT as double) as AMT_INSTALMENT,
        cast(AMT_PAYMENT as double) as AMT_PAYMENT,
        _load_id,
        -- data-quality flags: 1 marks an impossible value (the row is kept)
        case when AMT_PAYMENT < 0 or AMT_INSTALMENT < 0 then 1 else 0 end as FLAG_NEGATIVE_AMOUNT
    from source
)

select * from cleaned
