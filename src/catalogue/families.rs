//! The families, as their providers document them. Each entry says how it is found; the
//! structures no prefix and alphabet can say are checked by the functions at the end.

use std::ops::Range;

use super::shapes::{
    base64url_decode, body_entropy, is_placeholder, is_reference, placeholder_body,
};
use super::Alphabet::{
    Base62, Base64, Base64Url, Bech32Upper, Dotted, Hex, HexLower, Letters, UpperAlnum, Visible,
    Word,
};
use super::{Alphabet, Anchor, Body, Checksum, Family};

const fn body(alphabet: Alphabet, min: usize, max: usize) -> Body {
    Body { alphabet, min, max }
}

const fn prefix(prefixes: &'static [&'static str], body: Body) -> Anchor {
    Anchor::Prefix { prefixes, body }
}

/// A value assigned to a name containing one of `keywords` (and one of `also`, if any).
const fn keyword(
    keywords: &'static [&'static str],
    also: &'static [&'static str],
    value: Body,
) -> Anchor {
    Anchor::Keyword {
        keywords,
        also,
        exact: false,
        value,
    }
}

/// A value assigned to a name that is one of `names`.
const fn named(names: &'static [&'static str], value: Body) -> Anchor {
    Anchor::Keyword {
        keywords: names,
        also: &[],
        exact: true,
        value,
    }
}

const fn structure(
    markers: &'static [&'static str],
    find: fn(&[u8], usize, usize) -> Option<Range<usize>>,
) -> Anchor {
    Anchor::Structure { markers, find }
}

/// The catalogue, in the order `scan --rules` lists it.
pub static FAMILIES: &[Family] = &[
    Family {
        id: "aws-access-key-id",
        provider: "AWS",
        what: "an AWS access key id",
        anchors: &[prefix(&["AKIA", "ASIA", "ABIA", "ACCA"], body(UpperAlnum, 16, 16))],
        checksum: None,
        public: false,
        doc: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
        catches: "`AKIA`/`ASIA` and 16 upper-case letters or digits",
        leaves: "AWS's documented example key ids (`…EXAMPLE`)",
    },
    Family {
        id: "aws-secret-access-key",
        provider: "AWS",
        what: "an AWS secret access key",
        anchors: &[
            keyword(&["secret_access_key", "secretaccesskey", "aws_secret", "awssecret"], &[], body(Base64, 40, 40)),
            keyword(&["aws"], &["secret"], body(Base64, 40, 40)),
        ],
        checksum: None,
        public: false,
        doc: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
        catches: "40 base64 characters assigned to a name with `aws` and `secret` (`aws_secret_access_key = …`)",
        leaves: "the documented example secret, references such as `${AWS_SECRET_ACCESS_KEY}`",
    },
    Family {
        id: "github-token",
        provider: "GitHub",
        what: "a GitHub token",
        anchors: &[
            prefix(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], body(Base62, 30, 255)),
            prefix(&["github_pat_"], body(Word, 40, 255)),
        ],
        checksum: Some(Checksum::Crc32Base62),
        public: false,
        doc: "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats",
        catches: "`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 36 letters or digits (the last 6 a CRC-32 checksum, checked); fine-grained `github_pat_…`",
        leaves: "bodies of `x`s or one repeated character",
    },
    Family {
        id: "gitlab-token",
        provider: "GitLab",
        what: "a GitLab token",
        anchors: &[prefix(
            &[
                "glpat-", "gldt-", "glptt-", "glrt-", "glcbt-", "gloas-", "glsoat-", "glft-",
                "glimt-", "glagent-", "glwt-", "glffct-", "GR1348941",
            ],
            body(Dotted, 20, 300),
        )],
        checksum: None,
        public: false,
        doc: "https://docs.gitlab.com/security/tokens/#token-prefixes",
        catches: "`glpat-` (and the other `gl…-` token prefixes) and 20 or more URL-safe characters",
        leaves: "`glpat-XXXXXXXXXXXXXXXXXXXX` and other placeholder bodies",
    },
    Family {
        id: "slack-token",
        provider: "Slack",
        what: "a Slack token",
        anchors: &[prefix(
            &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxe.xoxp-", "xapp-"],
            body(Base64Url, 10, 255),
        )],
        checksum: None,
        public: false,
        doc: "https://api.slack.com/authentication/token-types",
        catches: "`xoxb-`, `xoxp-`, `xapp-`… and the token's numbered parts",
        leaves: "`xoxb-xxxx…` placeholders",
    },
    Family {
        id: "slack-webhook",
        provider: "Slack",
        what: "a Slack incoming-webhook URL",
        anchors: &[structure(&["hooks.slack.com/", "hooks.slack.com\\/"], slack_webhook)],
        checksum: None,
        public: false,
        doc: "https://api.slack.com/messaging/webhooks",
        catches: "`https://hooks.slack.com/services/T…/B…/…` and workflow trigger URLs",
        leaves: "the bare host, and URLs whose secret part is a placeholder",
    },
    Family {
        id: "stripe-key",
        provider: "Stripe",
        what: "a Stripe live secret key",
        anchors: &[prefix(&["sk_live_", "rk_live_"], body(Base62, 16, 255))],
        checksum: None,
        public: false,
        doc: "https://docs.stripe.com/keys",
        catches: "live secret and restricted keys: `sk_live_…`, `rk_live_…`",
        leaves: "publishable keys (`pk_live_…`, public by design), repeated-character bodies",
    },
    Family {
        id: "stripe-test-key",
        provider: "Stripe",
        what: "a Stripe test-mode secret key",
        anchors: &[prefix(&["sk_test_", "rk_test_"], body(Base62, 16, 255))],
        checksum: None,
        public: false,
        doc: "https://docs.stripe.com/keys#test-live-modes",
        catches: "test-mode secret keys: `sk_test_…`, `rk_test_…` (they read and write your test data)",
        leaves: "publishable `pk_test_…` keys",
    },
    Family {
        id: "stripe-webhook-secret",
        provider: "Stripe",
        what: "a Stripe webhook signing secret",
        anchors: &[prefix(&["whsec_"], body(Base64, 24, 128))],
        checksum: None,
        public: false,
        doc: "https://docs.stripe.com/webhooks#verify-events",
        catches: "`whsec_` and the signing secret",
        leaves: "placeholder bodies",
    },
    Family {
        id: "stripe-publishable-key",
        provider: "Stripe",
        what: "a Stripe publishable key",
        anchors: &[prefix(&["pk_live_", "pk_test_"], body(Base62, 16, 255))],
        checksum: None,
        public: true,
        doc: "https://docs.stripe.com/keys#obtain-api-keys",
        catches: "nothing: publishable keys are meant for browsers (recognised, never reported)",
        leaves: "every `pk_live_…`/`pk_test_…` key",
    },
    Family {
        id: "google-api-key",
        provider: "Google",
        what: "a Google API key",
        anchors: &[prefix(&["AIza"], body(Base64Url, 35, 35))],
        checksum: None,
        public: false,
        doc: "https://cloud.google.com/docs/authentication/api-keys",
        catches: "`AIza` and 35 URL-safe characters",
        leaves: "shorter or longer `AIza…` strings",
    },
    Family {
        id: "google-oauth-client-secret",
        provider: "Google",
        what: "a Google OAuth client secret",
        anchors: &[prefix(&["GOCSPX-"], body(Base64Url, 24, 40))],
        checksum: None,
        public: false,
        doc: "https://developers.google.com/identity/protocols/oauth2",
        catches: "`GOCSPX-` and the secret",
        leaves: "OAuth client ids (`….apps.googleusercontent.com`, public by design)",
    },
    Family {
        id: "google-oauth-client-id",
        provider: "Google",
        what: "a Google OAuth client id",
        anchors: &[structure(&[".apps.googleusercontent.com"], google_client_id)],
        checksum: None,
        public: true,
        doc: "https://developers.google.com/identity/protocols/oauth2",
        catches: "nothing: client ids are public (recognised, never reported)",
        leaves: "every client id",
    },
    Family {
        id: "private-key",
        provider: "PEM",
        what: "a private key",
        anchors: &[
            structure(&["-----BEGIN "], pem_private_key),
            structure(&["LS0tLS1CRUdJTi"], base64_private_key),
        ],
        checksum: None,
        public: false,
        doc: "https://www.rfc-editor.org/rfc/rfc7468",
        catches: "`-----BEGIN … PRIVATE KEY-----` blocks with a key body, on several lines or on one with `\\n` escapes (service-account JSON), and base64-encoded blocks (Kubernetes Secrets' `data:`)",
        leaves: "certificates and public keys, and blocks around a placeholder body",
    },
    Family {
        id: "age-secret-key",
        provider: "age",
        what: "an age secret key (an envault identity)",
        anchors: &[prefix(&["AGE-SECRET-KEY-1"], body(Bech32Upper, 58, 58))],
        checksum: None,
        public: false,
        doc: "https://age-encryption.org/v1",
        catches: "`AGE-SECRET-KEY-1` and 58 bech32 characters",
        leaves: "public `age1…` recipients",
    },
    Family {
        id: "database-url",
        provider: "database",
        what: "a database URL with a password",
        anchors: &[
            structure(&["://"], database_url),
            structure(&["@tcp(", "@unix("], go_mysql_dsn),
        ],
        checksum: None,
        public: false,
        doc: "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS",
        catches: "`postgres://user:password@host/db` and the MySQL, MongoDB, Redis, AMQP… equivalents, and Go's MySQL DSN `user:password@tcp(host)/db`, in any file",
        leaves: "URLs without a password, and passwords that are references or placeholders (`${DB_PASSWORD}`, `password`)",
    },
    Family {
        id: "url-credentials",
        provider: "URL",
        what: "a URL with a password",
        anchors: &[structure(&["://"], url_credentials)],
        checksum: None,
        public: false,
        doc: "https://www.rfc-editor.org/rfc/rfc3986#section-3.2.1",
        catches: "`https://user:token@host` (`.git-credentials`, registry and proxy URLs)",
        leaves: "URLs without a password, and placeholder passwords",
    },
    Family {
        id: "openai-api-key",
        provider: "OpenAI",
        what: "an OpenAI API key",
        anchors: &[structure(&["sk-"], openai_key)],
        checksum: None,
        public: false,
        doc: "https://platform.openai.com/docs/api-reference/authentication",
        catches: "`sk-proj-…`, `sk-svcacct-…`, `sk-admin-…` and legacy `sk-` keys of 48 characters",
        leaves: "short `sk-` strings",
    },
    Family {
        id: "anthropic-api-key",
        provider: "Anthropic",
        what: "an Anthropic API key",
        anchors: &[structure(&["sk-ant-"], anthropic_key)],
        checksum: None,
        public: false,
        doc: "https://docs.anthropic.com/en/api/getting-started",
        catches: "`sk-ant-api03-…` and `sk-ant-admin01-…` keys",
        leaves: "placeholder bodies",
    },
    Family {
        id: "jwt",
        provider: "JSON Web Token",
        what: "a JSON Web Token",
        anchors: &[structure(&["eyJ"], jwt)],
        checksum: None,
        public: false,
        doc: "https://www.rfc-editor.org/rfc/rfc7519",
        catches: "`eyJ….eyJ….…` whose header decodes to JSON naming its algorithm",
        leaves: "base64 that does not decode to a token header",
    },
    Family {
        id: "npm-token",
        provider: "npm",
        what: "an npm access token",
        anchors: &[
            prefix(&["npm_"], body(Base62, 36, 36)),
            named(&["_authToken", "_auth", "_password"], body(Visible, 8, 512)),
        ],
        checksum: Some(Checksum::Crc32Base62),
        public: false,
        doc: "https://docs.npmjs.com/about-access-tokens",
        catches: "`npm_` and 36 letters or digits (CRC-32 checked), and `_authToken=`/`_auth=`/`_password=` in `.npmrc`",
        leaves: "`_authToken=${NPM_TOKEN}`",
    },
    Family {
        id: "pypi-token",
        provider: "PyPI",
        what: "a PyPI API token",
        anchors: &[prefix(&["pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"], body(Base64Url, 50, 512))],
        checksum: None,
        public: false,
        doc: "https://pypi.org/help/#apitoken",
        catches: "`pypi-AgEIcHlwaS5vcmc…` macaroons (and TestPyPI's)",
        leaves: "`pypi-` followed by anything else",
    },
    Family {
        id: "twilio-api-key",
        provider: "Twilio",
        what: "a Twilio API key or auth token",
        anchors: &[
            prefix(&["SK"], body(HexLower, 32, 32)),
            keyword(&["twilio"], &["token", "secret", "auth", "key"], body(HexLower, 32, 32)),
        ],
        checksum: None,
        public: false,
        doc: "https://www.twilio.com/docs/iam/api-keys",
        catches: "API key SIDs `SK` + 32 hex digits, and 32-hex auth tokens assigned to a `TWILIO_…TOKEN` name",
        leaves: "account SIDs (`AC…`, identifiers)",
    },
    Family {
        id: "sendgrid-api-key",
        provider: "SendGrid",
        what: "a SendGrid API key",
        anchors: &[structure(&["SG."], sendgrid_key)],
        checksum: None,
        public: false,
        doc: "https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys",
        catches: "`SG.` + 22 characters + `.` + 43 characters",
        leaves: "other `SG.` strings",
    },
    Family {
        id: "azure-storage-key",
        provider: "Azure",
        what: "an Azure storage or shared access key",
        anchors: &[
            structure(&["AccountKey=", "SharedAccessKey="], azure_connection_key),
            keyword(&["storage_key", "account_key", "storagekey", "accountkey", "storage_account_key"], &[], body(Base64, 86, 88)),
        ],
        checksum: None,
        public: false,
        doc: "https://learn.microsoft.com/azure/storage/common/storage-account-keys-manage",
        catches: "`AccountKey=…`/`SharedAccessKey=…` in connection strings, and 88-character storage keys under such names",
        leaves: "the storage emulator's published key (`devstoreaccount1`)",
    },
    Family {
        id: "azure-client-secret",
        provider: "Azure",
        what: "an Azure AD (Entra ID) client secret",
        anchors: &[structure(&["Q~"], azure_client_secret)],
        checksum: None,
        public: false,
        doc: "https://learn.microsoft.com/entra/identity-platform/how-to-add-credentials",
        catches: "application secrets of the `…Q~…` form",
        leaves: "client and tenant ids (GUIDs)",
    },
    Family {
        id: "digitalocean-token",
        provider: "DigitalOcean",
        what: "a DigitalOcean token",
        anchors: &[prefix(&["dop_v1_", "doo_v1_", "dor_v1_"], body(HexLower, 64, 64))],
        checksum: None,
        public: false,
        doc: "https://docs.digitalocean.com/reference/api/create-personal-access-token/",
        catches: "`dop_v1_`, `doo_v1_`, `dor_v1_` and 64 hex digits",
        leaves: "placeholder bodies",
    },
    Family {
        id: "shopify-token",
        provider: "Shopify",
        what: "a Shopify access token or shared secret",
        anchors: &[prefix(&["shpat_", "shpca_", "shppa_", "shpss_"], body(Hex, 32, 32))],
        checksum: None,
        public: false,
        doc: "https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens",
        catches: "`shpat_`, `shpca_`, `shppa_`, `shpss_` and 32 hex digits",
        leaves: "placeholder bodies",
    },
    Family {
        id: "heroku-api-key",
        provider: "Heroku",
        what: "a Heroku API key",
        anchors: &[
            prefix(&["HRKU-"], body(Base64Url, 50, 80)),
            keyword(&["heroku"], &["key", "token", "secret", "auth"], body(Dotted, 36, 36)),
        ],
        checksum: None,
        public: false,
        doc: "https://devcenter.heroku.com/articles/authentication",
        catches: "`HRKU-…` keys, and UUID keys assigned to a `HEROKU_…` name",
        leaves: "UUIDs elsewhere",
    },
    Family {
        id: "mailgun-api-key",
        provider: "Mailgun",
        what: "a Mailgun API key",
        anchors: &[
            prefix(&["key-"], body(HexLower, 32, 32)),
            keyword(&["mailgun"], &["key", "secret", "token"], body(Dotted, 32, 50)),
        ],
        checksum: None,
        public: false,
        doc: "https://documentation.mailgun.com/docs/mailgun/user-manual/get-started/",
        catches: "`key-` and 32 hex digits, and keys assigned to a `MAILGUN_…KEY` name",
        leaves: "public validation keys (`pubkey-…`)",
    },
    Family {
        id: "datadog-api-key",
        provider: "Datadog",
        what: "a Datadog API or application key",
        anchors: &[
            keyword(&["datadog", "dd_api_key", "dd_app_key", "dd_application_key", "ddapikey", "ddappkey"], &["key", "token", "secret"], body(HexLower, 32, 40)),
        ],
        checksum: None,
        public: false,
        doc: "https://docs.datadoghq.com/account_management/api-app-keys/",
        catches: "32-hex API keys and 40-hex application keys assigned to `DD_API_KEY`, `DD_APP_KEY`, `DATADOG_…KEY`",
        leaves: "hex strings under other names (hashes, ids)",
    },
    Family {
        id: "vault-token",
        provider: "HashiCorp Vault",
        what: "a HashiCorp Vault token",
        anchors: &[
            prefix(&["hvs.", "hvb.", "hvr."], body(Base64Url, 24, 512)),
            keyword(&["vault"], &["token"], body(Dotted, 26, 26)),
        ],
        checksum: None,
        public: false,
        doc: "https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes",
        catches: "service, batch and recovery tokens (`hvs.`, `hvb.`, `hvr.`), and legacy `s.…` tokens under a `VAULT_TOKEN` name",
        leaves: "`VAULT_TOKEN=root` and other development tokens shorter than a real one",
    },
    Family {
        id: "doppler-token",
        provider: "Doppler",
        what: "a Doppler token",
        anchors: &[prefix(
            &["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."],
            body(Dotted, 40, 128),
        )],
        checksum: None,
        public: false,
        doc: "https://docs.doppler.com/reference/api#authentication",
        catches: "personal, service, service-account, CLI, SCIM and audit tokens (`dp.pt.…`, `dp.st.…`…)",
        leaves: "placeholder bodies",
    },
    Family {
        id: "onepassword-service-account-token",
        provider: "1Password",
        what: "a 1Password service account token",
        anchors: &[prefix(&["ops_eyJ"], body(Base64, 100, 4096))],
        checksum: None,
        public: false,
        doc: "https://developer.1password.com/docs/service-accounts/",
        catches: "`ops_eyJ…` service account tokens",
        leaves: "placeholder bodies",
    },
    Family {
        id: "onepassword-secret-key",
        provider: "1Password",
        what: "a 1Password account secret key",
        anchors: &[structure(&["A3-"], onepassword_secret_key)],
        checksum: None,
        public: false,
        doc: "https://support.1password.com/secret-key/",
        catches: "`A3-XXXXXX-…` account secret keys",
        leaves: "other dashed codes",
    },
    Family {
        id: "telegram-bot-token",
        provider: "Telegram",
        what: "a Telegram bot token",
        anchors: &[structure(&[":AA"], telegram_bot_token)],
        checksum: None,
        public: false,
        doc: "https://core.telegram.org/bots/api#authorizing-your-bot",
        catches: "`123456789:AA…` bot tokens",
        leaves: "times and ports (`12:30`, `host:8080`)",
    },
    Family {
        id: "mailchimp-api-key",
        provider: "Mailchimp",
        what: "a Mailchimp API key",
        anchors: &[structure(&["-us"], mailchimp_key)],
        checksum: None,
        public: false,
        doc: "https://mailchimp.com/developer/marketing/guides/quick-start/",
        catches: "32 hex digits and the data centre (`…-us21`)",
        leaves: "other hex strings",
    },
    Family {
        id: "huggingface-token",
        provider: "Hugging Face",
        what: "a Hugging Face access token",
        anchors: &[prefix(&["hf_"], body(Letters, 34, 34))],
        checksum: None,
        public: false,
        doc: "https://huggingface.co/docs/hub/security-tokens",
        catches: "`hf_` and 34 letters",
        leaves: "other `hf_` names",
    },
    Family {
        id: "groq-api-key",
        provider: "Groq",
        what: "a Groq API key",
        anchors: &[prefix(&["gsk_"], body(Base62, 52, 52))],
        checksum: None,
        public: false,
        doc: "https://console.groq.com/docs/quickstart",
        catches: "`gsk_` and 52 letters or digits",
        leaves: "placeholder bodies",
    },
    Family {
        id: "linear-api-key",
        provider: "Linear",
        what: "a Linear API key",
        anchors: &[prefix(&["lin_api_"], body(Base62, 40, 40))],
        checksum: None,
        public: false,
        doc: "https://linear.app/developers/graphql#personal-api-keys",
        catches: "`lin_api_` and 40 letters or digits",
        leaves: "placeholder bodies",
    },
    Family {
        id: "postman-api-key",
        provider: "Postman",
        what: "a Postman API key",
        anchors: &[structure(&["PMAK-"], postman_key)],
        checksum: None,
        public: false,
        doc: "https://learning.postman.com/docs/developer/postman-api/authentication/",
        catches: "`PMAK-` + 24 hex + `-` + 34 hex",
        leaves: "other `PMAK-` strings",
    },
    Family {
        id: "newrelic-api-key",
        provider: "New Relic",
        what: "a New Relic user API key",
        anchors: &[prefix(&["NRAK-"], body(UpperAlnum, 27, 27))],
        checksum: None,
        public: false,
        doc: "https://docs.newrelic.com/docs/apis/intro-apis/new-relic-api-keys/",
        catches: "`NRAK-` and 27 upper-case letters or digits",
        leaves: "license keys (no fixed form)",
    },
    Family {
        id: "sentry-token",
        provider: "Sentry",
        what: "a Sentry auth token",
        anchors: &[
            prefix(&["sntrys_eyJ"], body(Dotted, 60, 400)),
            prefix(&["sntryu_"], body(HexLower, 64, 64)),
        ],
        checksum: None,
        public: false,
        doc: "https://docs.sentry.io/account/auth-tokens/",
        catches: "organisation (`sntrys_…`) and user (`sntryu_…`) auth tokens",
        leaves: "DSNs (public by design in browser code)",
    },
    Family {
        id: "databricks-token",
        provider: "Databricks",
        what: "a Databricks access token",
        anchors: &[prefix(&["dapi"], body(HexLower, 32, 32))],
        checksum: None,
        public: false,
        doc: "https://docs.databricks.com/en/dev-tools/auth/pat.html",
        catches: "`dapi` and 32 hex digits",
        leaves: "placeholder bodies",
    },
    Family {
        id: "grafana-token",
        provider: "Grafana",
        what: "a Grafana token",
        anchors: &[
            prefix(&["glc_"], body(Base64, 32, 400)),
            prefix(&["glsa_"], body(Word, 41, 41)),
        ],
        checksum: None,
        public: false,
        doc: "https://grafana.com/docs/grafana/latest/administration/service-accounts/",
        catches: "Grafana Cloud (`glc_…`) and service-account (`glsa_…`) tokens",
        leaves: "placeholder bodies",
    },
    Family {
        id: "pulumi-token",
        provider: "Pulumi",
        what: "a Pulumi access token",
        anchors: &[prefix(&["pul-"], body(HexLower, 40, 40))],
        checksum: None,
        public: false,
        doc: "https://www.pulumi.com/docs/pulumi-cloud/access-management/access-tokens/",
        catches: "`pul-` and 40 hex digits",
        leaves: "placeholder bodies",
    },
    Family {
        id: "supabase-key",
        provider: "Supabase",
        what: "a Supabase secret key or access token",
        anchors: &[
            prefix(&["sbp_"], body(HexLower, 40, 40)),
            prefix(&["sb_secret_"], body(Base64Url, 24, 128)),
        ],
        checksum: None,
        public: false,
        doc: "https://supabase.com/docs/guides/api/api-keys",
        catches: "access tokens (`sbp_…`) and secret keys (`sb_secret_…`)",
        leaves: "publishable keys (`sb_publishable_…`)",
    },
    Family {
        id: "planetscale-token",
        provider: "PlanetScale",
        what: "a PlanetScale token or password",
        anchors: &[prefix(&["pscale_tkn_", "pscale_pw_", "pscale_oauth_"], body(Base64Url, 32, 64))],
        checksum: None,
        public: false,
        doc: "https://planetscale.com/docs/concepts/service-tokens",
        catches: "`pscale_tkn_…`, `pscale_pw_…`, `pscale_oauth_…`",
        leaves: "placeholder bodies",
    },
    Family {
        id: "atlassian-api-token",
        provider: "Atlassian",
        what: "an Atlassian API token",
        anchors: &[prefix(&["ATATT3"], body(Dotted, 100, 300))],
        checksum: None,
        public: false,
        doc: "https://support.atlassian.com/atlassian-account/docs/manage-api-tokens-for-your-atlassian-account/",
        catches: "`ATATT3…` API tokens",
        leaves: "placeholder bodies",
    },
    Family {
        id: "square-token",
        provider: "Square",
        what: "a Square access token or secret",
        anchors: &[
            prefix(&["sq0atp-"], body(Base64Url, 22, 22)),
            prefix(&["sq0csp-"], body(Base64Url, 43, 43)),
        ],
        checksum: None,
        public: false,
        doc: "https://developer.squareup.com/docs/build-basics/access-tokens",
        catches: "`sq0atp-…` access tokens and `sq0csp-…` application secrets",
        leaves: "application ids (`sq0idp-…`)",
    },
    Family {
        id: "alibaba-access-key-id",
        provider: "Alibaba Cloud",
        what: "an Alibaba Cloud AccessKey id",
        anchors: &[prefix(&["LTAI"], body(Base62, 20, 20))],
        checksum: None,
        public: false,
        doc: "https://www.alibabacloud.com/help/en/ram/user-guide/create-an-accesskey-pair",
        catches: "`LTAI` and 20 letters or digits",
        leaves: "placeholder bodies",
    },
    Family {
        id: "docker-hub-token",
        provider: "Docker Hub",
        what: "a Docker Hub access token",
        anchors: &[prefix(&["dckr_pat_", "dckr_oat_"], body(Base64Url, 24, 64))],
        checksum: None,
        public: false,
        doc: "https://docs.docker.com/security/for-developers/access-tokens/",
        catches: "personal and organisation access tokens (`dckr_pat_…`, `dckr_oat_…`)",
        leaves: "placeholder bodies",
    },
    Family {
        id: "discord-webhook",
        provider: "Discord",
        what: "a Discord webhook URL",
        anchors: &[structure(&["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"], discord_webhook)],
        checksum: None,
        public: false,
        doc: "https://discord.com/developers/docs/resources/webhook",
        catches: "`https://discord.com/api/webhooks/<id>/<token>`",
        leaves: "the bare API path",
    },
    Family {
        id: "teams-webhook",
        provider: "Microsoft Teams",
        what: "a Microsoft Teams incoming-webhook URL",
        anchors: &[structure(&[".webhook.office.com/webhookb2/"], teams_webhook)],
        checksum: None,
        public: false,
        doc: "https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook",
        catches: "`https://<tenant>.webhook.office.com/webhookb2/…`",
        leaves: "the bare host",
    },
    Family {
        id: "azure-sas-token",
        provider: "Azure",
        what: "an Azure shared access signature",
        anchors: &[structure(&["sig="], azure_sas)],
        checksum: None,
        public: false,
        doc: "https://learn.microsoft.com/azure/storage/common/storage-sas-overview",
        catches: "`sig=` of a SAS URL or token that also names its version (`sv=`)",
        leaves: "other `sig=` parameters",
    },
    Family {
        id: "authorization-header",
        provider: "HTTP",
        what: "a credential in an Authorization header",
        anchors: &[structure(&["Bearer ", "Basic ", "bearer ", "Token "], authorization_header)],
        checksum: None,
        public: false,
        doc: "https://www.rfc-editor.org/rfc/rfc9110#section-11.6.2",
        catches: "`Authorization: Bearer <token>` and `Basic <base64 of user:password>` with a literal credential",
        leaves: "headers built from a variable (`Bearer $TOKEN`, `f\"Bearer {token}\"`)",
    },
    Family {
        id: "netrc-password",
        provider: "netrc",
        what: "a password in a netrc file",
        anchors: &[structure(&["password "], netrc_password)],
        checksum: None,
        public: false,
        doc: "https://everything.curl.dev/usingcurl/netrc.html",
        catches: "`machine <host> login <user> password <secret>`",
        leaves: "placeholder passwords",
    },
    Family {
        id: "docker-registry-auth",
        provider: "Docker",
        what: "a registry password in a Docker config",
        anchors: &[structure(&["\"auth\""], docker_auth)],
        checksum: None,
        public: false,
        doc: "https://docs.docker.com/reference/cli/docker/login/#credential-stores",
        catches: "`\"auth\": \"…\"` entries of `~/.docker/config.json` that decode to `user:password`",
        leaves: "entries that decode to anything else",
    },
];

/// Whether the byte before `at` ends a word.
fn word_start(text: &[u8], at: usize) -> bool {
    at == 0 || !(text[at - 1].is_ascii_alphanumeric() || text[at - 1] == b'_')
}

/// How many bytes of `alphabet` start `text` (at most `limit`).
fn run(text: &[u8], alphabet: Alphabet, limit: usize) -> usize {
    text.iter()
        .take(limit)
        .take_while(|b| alphabet.contains(**b))
        .count()
}

fn slack_webhook(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let rest = &text[at + len..];
    let path_len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'\\'))
        .count();
    // JSON may escape the slashes (`https:\/\/hooks.slack.com\/services\/…`).
    let path = std::str::from_utf8(&rest[..path_len])
        .ok()?
        .replace("\\/", "/");
    let parts: Vec<&str> = path.split('/').collect();
    let secret = match parts.as_slice() {
        ["services", t, b, secret, ..] if t.starts_with('T') && b.starts_with('B') => *secret,
        ["workflows" | "triggers", .., last] => *last,
        _ => return None,
    };
    if secret.len() < 16 || placeholder_body(secret.as_bytes()) {
        return None;
    }
    let start = ["https://", "http://", "https:\\/\\/"]
        .iter()
        .find(|s| text[..at].ends_with(s.as_bytes()))
        .map_or(at, |s| at - s.len());
    Some(start..at + len + path_len)
}

fn google_client_id(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let before = &text[..at];
    let id = before
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count();
    (id >= 20).then(|| at - id..at + len)
}

/// The payload of a PEM private key block from its `-----BEGIN` line: the span to the end of
/// its `-----END` line (or of the body, when it has none), when the body holds key material.
fn pem_private_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let rest = &text[at + len..];
    let line_end = rest
        .iter()
        .position(|b| *b == b'\n' || *b == b'\\' || *b == b'"')
        .unwrap_or(rest.len());
    let label = std::str::from_utf8(&rest[..line_end])
        .ok()?
        .trim_end_matches('\r');
    if !(label.ends_with("PRIVATE KEY-----") || label.ends_with("PRIVATE KEY BLOCK-----")) {
        return None;
    }
    let body_start = at + len + line_end;
    let limit = text.len().min(body_start + 16384);
    // Key material, line by line, whatever breaks the lines (newlines or `\n` escapes) and
    // wraps them (indentation, the quotes and `+` of a string split over lines). Header lines
    // (`Proc-Type: …`) are skipped; the block ends at its `-----END` line, or at the first
    // line that is neither (a constant after a lone header line is not its body).
    let mut material = Vec::new();
    let mut last_material_end = body_start;
    let mut closed_at = None;
    let mut i = body_start;
    while i < limit {
        let line_len = text[i..limit]
            .windows(2)
            .position(|w| w[0] == b'\n' || (w[0] == b'\\' && matches!(w[1], b'n' | b'r')))
            .map_or(limit - i, |n| n);
        let (line, next) = (&text[i..i + line_len], i + line_len);
        let next = if text.get(next) == Some(&b'\\') {
            next + 2
        } else {
            next + 1
        };
        let trimmed = trim_wrapping(line);
        if trimmed.starts_with(b"-----END") {
            closed_at = Some(i + line.iter().position(|b| *b == b'-').unwrap_or(0));
            break;
        }
        if !trimmed.is_empty() {
            if trimmed
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            {
                material.extend(trimmed.iter().filter(|b| **b != b'='));
                last_material_end = i + line_len;
            } else if !(trimmed.contains(&b':') && material.is_empty()) {
                break;
            }
        }
        i = next;
    }
    if material.len() < 16 || placeholder_body(&material) || body_entropy(&material) < 3.5 {
        return None;
    }
    let end = match closed_at {
        Some(e) => {
            let tail = &text[e..];
            let n = tail
                .iter()
                .position(|b| *b == b'\n' || *b == b'\\' || *b == b'"')
                .unwrap_or(tail.len());
            let mut end = e + n;
            while end > e && text[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            end
        }
        // No end line: the block ends with its last material, not with what follows.
        None => {
            let mut e = last_material_end;
            while e > body_start && !text[e - 1].is_ascii_alphanumeric() && text[e - 1] != b'=' {
                e -= 1;
            }
            e
        }
    };
    Some(at..end)
}

/// A line of a key block without what wraps it in code: indentation, quotes, and the `+`,
/// `,`, `;`, `)` of a string split over lines.
fn trim_wrapping(line: &[u8]) -> &[u8] {
    let wrap = |b: &u8| {
        b.is_ascii_whitespace()
            || matches!(b, b'"' | b'\'' | b'+' | b',' | b';' | b')' | b'(' | b'`')
    };
    let start = line.iter().position(|b| !wrap(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !wrap(b)).map_or(start, |e| e + 1);
    &line[start..end]
}

/// Database schemes (a URL of one of these with a password is a database credential).
const DATABASE_SCHEMES: &[&str] = &[
    "postgres",
    "postgresql",
    "postgis",
    "pgsql",
    "mysql",
    "mysql2",
    "mariadb",
    "mongodb",
    "mongodb+srv",
    "redis",
    "rediss",
    "valkey",
    "amqp",
    "amqps",
    "mssql",
    "sqlserver",
    "cockroachdb",
    "clickhouse",
    "oracle",
    "db2",
    "neo4j",
    "neo4j+s",
    "bolt",
    "cassandra",
    "couchdb",
    "memcached",
    "nats",
    "jdbc:postgresql",
    "jdbc:mysql",
    "jdbc:sqlserver",
];

/// The scheme before `://` at `at`, lower-cased (`jdbc:` kept in front).
fn scheme_before(text: &[u8], at: usize) -> Option<String> {
    let n = text[..at]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b':'))
        .count();
    let s = std::str::from_utf8(&text[at - n..at])
        .ok()?
        .to_ascii_lowercase();
    let s = s.trim_start_matches(':').to_owned();
    (!s.is_empty() && s.as_bytes()[0].is_ascii_alphabetic()).then_some(s)
}

/// Passwords that stand in for one in examples.
fn placeholder_password(user: &str, password: &str) -> bool {
    let p = password.to_ascii_lowercase();
    [
        "password",
        "pass",
        "passwd",
        "pwd",
        "pw",
        "secret",
        "changeme",
        "p",
        "x",
        "test",
        "user",
        "username",
        "mypassword",
        "yourpassword",
        "pass123",
    ]
    .contains(&p.as_str())
        || is_placeholder(password)
        || is_reference(password)
        || password.starts_with('$')
        || password.starts_with('%')
        || password.starts_with('{')
        || password == user
}

/// The password of `scheme://user:password@host` around `://` at `at`, when the scheme is a
/// database one (`database`) or not (`!database`).
fn url_password(text: &[u8], at: usize, len: usize, database: bool) -> Option<Range<usize>> {
    let scheme = scheme_before(text, at)?;
    let is_db = DATABASE_SCHEMES.contains(&scheme.as_str());
    if is_db != database {
        return None;
    }
    let start = at + len;
    // The authority ends at `/`, `?`, `#`, whitespace or a quote; its userinfo at the last `@`.
    let auth_len = text[start..]
        .iter()
        .take(512)
        .take_while(|b| {
            !matches!(
                b,
                b'/' | b'?' | b'#' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'\\'
            ) && !b.is_ascii_whitespace()
        })
        .count();
    let auth = &text[start..start + auth_len];
    let at_sign = auth.iter().rposition(|b| *b == b'@')?;
    let password = userinfo_password(&auth[..at_sign])?;
    Some(start + password.start..start + password.end)
}

/// The password of `user:password` (a URL's or a DSN's userinfo), as a range of it, unless
/// it is empty, a placeholder or a reference.
fn userinfo_password(userinfo: &[u8]) -> Option<Range<usize>> {
    let colon = userinfo.iter().position(|b| *b == b':')?;
    let (user, password) = (&userinfo[..colon], &userinfo[colon + 1..]);
    let (user_s, password_s) = (
        std::str::from_utf8(user).ok()?,
        std::str::from_utf8(password).ok()?,
    );
    if password.is_empty() || placeholder_password(user_s, password_s) {
        return None;
    }
    Some(colon + 1..userinfo.len())
}

fn database_url(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    url_password(text, at, len, true)
}

/// Go's MySQL driver names a database without a scheme: `user:password@tcp(host:3306)/db`.
fn go_mysql_dsn(text: &[u8], at: usize, _len: usize) -> Option<Range<usize>> {
    let start = at
        - text[..at]
            .iter()
            .rev()
            .take(256)
            .take_while(|b| {
                !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b'`' | b'=' | b'(' | b',')
            })
            .count();
    let password = userinfo_password(&text[start..at])?;
    Some(start + password.start..start + password.end)
}

fn url_credentials(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    url_password(text, at, len, false)
}

fn openai_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    if !word_start(text, at) {
        return None;
    }
    let rest = &text[at + len..];
    if rest.starts_with(b"ant-") {
        return None;
    }
    let n = run(rest, Base64Url, 400);
    let body = &rest[..n];
    let marked = ["proj-", "svcacct-", "admin-", "None-"]
        .iter()
        .any(|p| body.starts_with(p.as_bytes()));
    let signature = memchr::memmem::find(body, b"T3BlbkFJ").is_some();
    let legacy = n == 48 && body.iter().all(u8::is_ascii_alphanumeric);
    if !(((marked || signature) && n >= 40) || legacy) || placeholder_body(body) {
        return None;
    }
    Some(at..at + len + n)
}

fn anthropic_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    if !word_start(text, at) {
        return None;
    }
    let rest = &text[at + len..];
    let kind = rest
        .iter()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        .count();
    if kind == 0 || rest.get(kind) != Some(&b'-') {
        return None;
    }
    let n = run(&rest[kind + 1..], Base64Url, 400);
    if n < 40 || placeholder_body(&rest[kind + 1..kind + 1 + n]) {
        return None;
    }
    Some(at..at + len + kind + 1 + n)
}

fn jwt(text: &[u8], at: usize, _len: usize) -> Option<Range<usize>> {
    if !word_start(text, at) {
        return None;
    }
    let seg = |from: usize| run(&text[from..], Base64Url, 8192);
    let h = seg(at);
    if h < 10 || text.get(at + h) != Some(&b'.') {
        return None;
    }
    let p_start = at + h + 1;
    if !text[p_start..].starts_with(b"eyJ") {
        return None;
    }
    let p = seg(p_start);
    if p < 10 || text.get(p_start + p) != Some(&b'.') {
        return None;
    }
    let s_start = p_start + p + 1;
    let s = seg(s_start);
    let header = base64url_decode(&text[at..at + h])?;
    let header = String::from_utf8_lossy(&header);
    if !header.contains("\"alg\"") && !header.contains("\"typ\"") {
        return None;
    }
    Some(at..s_start + s)
}

fn sendgrid_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    if !word_start(text, at) {
        return None;
    }
    let rest = &text[at + len..];
    let a = run(rest, Base64Url, 23);
    if a != 22 || rest.get(22) != Some(&b'.') {
        return None;
    }
    let b = run(&rest[23..], Base64Url, 44);
    if b != 43 || placeholder_body(&rest[23..66]) {
        return None;
    }
    Some(at..at + len + 66)
}

fn azure_connection_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let rest = &text[at + len..];
    let n = run(rest, Base64, 200);
    let pad = rest[n..].iter().take(2).take_while(|b| **b == b'=').count();
    if n < 40 || placeholder_body(&rest[..n]) || body_entropy(&rest[..n]) < 4.0 {
        return None;
    }
    Some(at + len..at + len + n + pad)
}

fn azure_client_secret(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'.');
    if at < 4 || !text[at - 1].is_ascii_digit() || !text[at - 4..at - 1].iter().all(|b| ok(*b)) {
        return None;
    }
    if !word_start(text, at - 4) {
        return None;
    }
    let rest = &text[at + len..];
    let n = rest
        .iter()
        .take(36)
        .take_while(|b| ok(**b) || **b == b'-')
        .count();
    if !(31..=34).contains(&n) || placeholder_body(&rest[..n]) {
        return None;
    }
    Some(at - 4..at + len + n)
}

fn onepassword_secret_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    if !word_start(text, at) {
        return None;
    }
    let rest = &text[at + len..];
    let n = rest
        .iter()
        .take(40)
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'-')
        .count();
    let groups: Vec<usize> = rest[..n].split(|b| *b == b'-').map(<[u8]>::len).collect();
    let shaped = matches!(groups.as_slice(), [6, 11, 5, 5, 5] | [6, 6, 5, 5, 5, 5]);
    (shaped && !placeholder_body(&rest[..n])).then(|| at..at + len + n)
}

fn telegram_bot_token(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let digits = text[..at]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    // The bare token, or inside its API URL (`https://api.telegram.org/bot<token>/…`).
    let in_url = text[..at - digits].ends_with(b"/bot");
    if !(8..=10).contains(&digits) || !(word_start(text, at - digits) || in_url) {
        return None;
    }
    let rest = &text[at + len..];
    let n = run(rest, Base64Url, 34);
    if n != 33 || placeholder_body(&rest[..n]) {
        return None;
    }
    Some(at - digits..at + len + n)
}

fn mailchimp_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let hex = text[..at]
        .iter()
        .rev()
        .take(33)
        .take_while(|b| HexLower.contains(**b))
        .count();
    if hex != 32 || !word_start(text, at - 32) {
        return None;
    }
    let dc = text[at + len..]
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=2).contains(&dc) || placeholder_body(&text[at - 32..at]) {
        return None;
    }
    Some(at - 32..at + len + dc)
}

fn postman_key(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let rest = &text[at + len..];
    let a = run(rest, HexLower, 25);
    if a != 24 || rest.get(24) != Some(&b'-') {
        return None;
    }
    let b = run(&rest[25..], HexLower, 35);
    (b == 34 && !placeholder_body(&rest[25..59])).then(|| at..at + len + 59)
}

/// `"auth": "<base64 of user:password>"` in a Docker config.
fn docker_auth(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let mut i = at + len;
    while i < text.len() && matches!(text[i], b' ' | b'\t') {
        i += 1;
    }
    if text.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while i < text.len() && matches!(text[i], b' ' | b'\t') {
        i += 1;
    }
    if text.get(i) != Some(&b'"') {
        return None;
    }
    let vs = i + 1;
    let n = text[vs..]
        .iter()
        .take(1024)
        .take_while(|b| Base64.contains(**b) || **b == b'=')
        .count();
    if text.get(vs + n) != Some(&b'"') {
        return None;
    }
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&text[vs..vs + n])
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    if user.is_empty() || password.is_empty() || placeholder_password(user, password) {
        return None;
    }
    Some(vs..vs + n)
}

fn discord_webhook(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let rest = &text[at + len..];
    let id = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(15..=25).contains(&id) || rest.get(id) != Some(&b'/') {
        return None;
    }
    let token = run(&rest[id + 1..], Base64Url, 100);
    if token < 60 || placeholder_body(&rest[id + 1..id + 1 + token]) {
        return None;
    }
    Some(at..at + len + id + 1 + token)
}

fn teams_webhook(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let rest = &text[at + len..];
    let n = rest
        .iter()
        .take(512)
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'@' | b'_'))
        .count();
    let secret: Vec<u8> = rest[..n]
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    if secret.len() < 60 || placeholder_body(&secret) {
        return None;
    }
    let host = text[..at]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        .count();
    Some(at - host..at + len + n)
}

/// `sig=` of a SAS: the URL or token around it names its service version (`sv=`).
fn azure_sas(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    if at == 0 || !matches!(text[at - 1], b'?' | b'&' | b';' | b'"' | b'\'') {
        return None;
    }
    let start = text[..at]
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`'))
        .map_or(0, |p| p + 1);
    memchr::memmem::find(&text[start..at], b"sv=")?;
    let rest = &text[at + len..];
    let n = rest
        .iter()
        .take(200)
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'+' | b'/' | b'='))
        .count();
    if n < 30 || placeholder_body(&rest[..n]) {
        return None;
    }
    Some(at + len..at + len + n)
}

/// `Bearer <token>` / `Basic <base64 of user:password>` after `Authorization`, with a
/// literal credential (not `$TOKEN`, `{token}`, `" + token`).
fn authorization_header(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let line_start = text[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let before = String::from_utf8_lossy(&text[line_start..at]).to_ascii_lowercase();
    if !before.contains("authorization") {
        return None;
    }
    let rest = &text[at + len..];
    let n = run(rest, Dotted, 4096);
    let n = n + rest[n..]
        .iter()
        .take(2)
        .take_while(|b| **b == b'=' || **b == b'/' || **b == b'+')
        .count();
    let token = &rest[..n];
    if text[at..].starts_with(b"Basic ") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        if password.is_empty() || placeholder_password(user, password) {
            return None;
        }
    } else {
        let t = std::str::from_utf8(token).ok()?;
        if t.len() < 20 || placeholder_body(token) || !crate::catalogue::looks_random(t) {
            return None;
        }
    }
    Some(at + len..at + len + n)
}

/// `machine <host> login <user> password <secret>` (`.netrc`, `_netrc`).
fn netrc_password(text: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let line_start = text[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let before = &text[line_start..at];
    let has = |w: &[u8]| memchr::memmem::find(before, w).is_some();
    if !(has(b"machine ") || has(b"default ")) || !has(b"login ") {
        return None;
    }
    let rest = &text[at + len..];
    let n = rest.iter().take_while(|b| b.is_ascii_graphic()).count();
    let password = std::str::from_utf8(&rest[..n]).ok()?;
    if n < 6 || placeholder_password("", password) {
        return None;
    }
    Some(at + len..at + len + n)
}

/// A base64-encoded PEM private key (`LS0tLS1CRUdJTi…` is `-----BEGIN`), as Kubernetes
/// Secrets' `data:` hold them.
fn base64_private_key(text: &[u8], at: usize, _len: usize) -> Option<Range<usize>> {
    if !word_start(text, at) {
        return None;
    }
    let n = text[at..]
        .iter()
        .take(16384)
        .take_while(|b| Base64.contains(**b) || **b == b'=')
        .count();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&text[at..at + n])
        .ok()?;
    find_pem(&decoded)?;
    Some(at..at + n)
}

/// Whether decoded bytes hold a private key block with key material.
fn find_pem(decoded: &[u8]) -> Option<()> {
    let marker = b"-----BEGIN ";
    let p = memchr::memmem::find(decoded, marker)?;
    pem_private_key(decoded, p, marker.len()).map(|_| ())
}
