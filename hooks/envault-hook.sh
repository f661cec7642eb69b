#!/bin/sh
# envault @HOOK@ hook: blocks plaintext secrets before they are committed.
# Installed by `envault git install`; `envault git uninstall` removes it and puts back any
# hook it chained (@HOOK@.envault-chained, which runs first and can still block).
envault=@ENVAULT@
chained="$(dirname "$0")/@HOOK@.envault-chained"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
if [ ! -x "$envault" ]; then
    echo "envault: $envault is missing, so the staged files cannot be checked for secrets." >&2
    echo "envault: the commit is blocked. Reinstall envault and run 'envault git install'," >&2
    echo "envault: or skip this check once with 'git commit --no-verify'." >&2
    exit 1
fi
exec "$envault" scan --staged
