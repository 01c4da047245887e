-- Typed, cleaned copy of raw.bureau (see _staging__models.yml).
{{ stage('bureau') }}
