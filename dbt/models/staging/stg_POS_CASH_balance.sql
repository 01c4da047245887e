-- Typed, cleaned copy of raw.POS_CASH_balance (see _staging__models.yml).
{{ stage('POS_CASH_balance') }}
