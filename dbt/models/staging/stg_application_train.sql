-- Typed, cleaned copy of raw.application_train (see _staging__models.yml).
{{ stage('application_train') }}
