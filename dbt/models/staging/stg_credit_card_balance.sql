-- Typed, cleaned copy of raw.credit_card_balance (see _staging__models.yml).
{{ stage('credit_card_balance') }}
