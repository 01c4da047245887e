-- Previous Home Credit applications, one row per application: typed as the contract says (_sources.yml), the DAYS_*
-- no-date code and the XNA / XAP categories set to NULL, impossible values flagged.

with

source as (
    select * from {{ source('raw', 'previous_application') }}
),

cleaned as (
    select
        cast(SK_ID_PREV as bigint) as SK_ID_PREV,
        cast(SK_ID_CURR as bigint) as SK_ID_CURR,
        cast({{ not_available('NAME_CONTRACT_TYPE') }} as string) as NAME_CONTRACT_TYPE,
        cast(AMT_ANNUITY as double) as AMT_ANNUITY,
        cast(AMT_APPLICATION as double) as AMT_APPLICATION,
        cast(AMT_CREDIT as double) as AMT_CREDIT,
        cast(AMT_DOWN_PAYMENT as double) as AMT_DOWN_PAYMENT,
        cast(AMT_GOODS_PRICE as double) as AMT_GOODS_PRICE,
        cast(WEEKDAY_APPR_PROCESS_START as string) as WEEKDAY_APPR_PROCESS_START,
        cast(HOUR_APPR_PROCESS_START as bigint) as HOUR_APPR_PROCESS_START,
        cast(FLAG_LAST_APPL_PER_CONTRACT as string) as FLAG_LAST_APPL_PER_CONTRACT,
        cast(NFLAG_LAST_APPL_IN_DAY as bigint) as NFLAG_LAST_APPL_IN_DAY,
        cast(RATE_DOWN_PAYMENT as double) as RATE_DOWN_PAYMENT,
        cast(RATE_INTEREST_PRIMARY as double) as RATE_INTEREST_PRIMARY,
        cast(RATE_INTEREST_PRIVILEGED as double) as RATE_INTEREST_PRIVILEGED,
        cast({{ not_available('NAME_CASH_LOAN_PURPOSE') }} as string) as NAME_CASH_LOAN_PURPOSE,
        cast(NAME_CONTRACT_STATUS as string) as NAME_CONTRACT_STATUS,
        cast({{ no_date('DAYS_DECISION') }} as bigint) as DAYS_DECISION,
        cast({{ not_available('NAME_PAYMENT_TYPE') }} as string) as NAME_PAYMENT_TYPE,
        cast({{ not_available('CODE_REJECT_REASON') }} as string) as CODE_REJECT_REASON,
        cast(NAME_TYPE_SUITE as string) as NAME_TYPE_SUITE,
        cast({{ not_available('NAME_CLIENT_TYPE') }} as string) as NAME_CLIENT_TYPE,
        cast({{ not_available('NAME_GOODS_CATEGORY') }} as string) as NAME_GOODS_CATEGORY,
        cast({{ not_available('NAME_PORTFOLIO') }} as string) as NAME_PORTFOLIO,
        cast({{ not_available('NAME_PRODUCT_TYPE') }} as string) as NAME_PRODUCT_TYPE,
        cast(CHANNEL_TYPE as string) as CHANNEL_TYPE,
        cast(SELLERPLACE_AREA as bigint) as SELLERPLACE_AREA,
        cast({{ not_available('NAME_SELLER_INDUSTRY') }} as string) as NAME_SELLER_INDUSTRY,
        cast(CNT_PAYMENT as double) as CNT_PAYMENT,
        cast({{ not_available('NAME_YIELD_GROUP') }} as string) as NAME_YIELD_GROUP,
        cast(PRODUCT_COMBINATION as string) as PRODUCT_COMBINATION,
        cast({{ no_date('DAYS_FIRST_DRAWING') }} as double) as DAYS_FIRST_DRAWING,
        cast({{ no_date('DAYS_FIRST_DUE') }} as double) as DAYS_FIRST_DUE,
        cast({{ no_date('DAYS_LAST_DUE_1ST_VERSION') }} as double) as DAYS_LAST_DUE_1ST_VERSION,
        cast({{ no_date('DAYS_LAST_DUE') }} as double) as DAYS_LAST_DUE,
        cast({{ no_date('DAYS_TERMINATION') }} as double) as DAYS_TERMINATION,
        cast(NFLAG_INSURED_ON_APPROVAL as double) as NFLAG_INSURED_ON_APPROVAL,
        _load_id,
        -- data-quality flags: 1 marks an impossible value (the row is kept)
        case when AMT_CREDIT < 0 or AMT_APPLICATION < 0 or AMT_ANNUITY < 0 then 1 else 0 end as FLAG_NEGATIVE_AMOUNT
    from source
)

select * from cleaned
