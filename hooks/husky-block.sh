# >>> envault >>> (added by `envault git install`; `envault git uninstall` removes it)
if ! command -v envault >/dev/null 2>&1; then
  echo "envault: not installed, so the staged files cannot be checked for secrets; the commit is blocked." >&2
  echo "envault: install it (cargo install --locked envault, or pip install envault) or skip once with 'git commit --no-verify'." >&2
  exit 1
fi
envault scan --staged || exit $?
# <<< envault <<<
