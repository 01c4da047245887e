-- Typed, cleaned copy of raw.previous_application (see _staging__models.yml).
{{ stage('previous_application') }}
