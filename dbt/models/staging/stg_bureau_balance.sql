-- Typed, cleaned copy of raw.bureau_balance (see _staging__models.yml).
{{ stage('bureau_balance') }}
