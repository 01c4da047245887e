-- Typed, cleaned copy of raw.application_test (see _staging__models.yml).
{{ stage('application_test') }}
