# >>> envault >>> (added by `envault git install`; `envault git uninstall` removes it)
if ! command -v envault >/dev/null 2>&1; then
  echo "envault: not installed, so the staged files cannot be checked for secrets; the commit is blocked." >&2
  echo "envault: install it from its source (see its README: cargo install --locked --path <checkout>) or skip once with 'git commit --no-verify'." >&2
  exit 1
fi
envault scan --staged || exit $?
# <<< envault <<<
