-- Typed, cleaned copy of raw.installments_payments (see _staging__models.yml).
{{ stage('installments_payments') }}
