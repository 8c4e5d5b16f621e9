#!/bin/bash
#
# tools/pgindent.sh: PostgreSQL's source layout (pgindent) approximated with
# GNU indent, which Debian packages (apt-get install indent); PostgreSQL's
# own pgindent needs pg_bsd_indent, which Debian does not package.
#
#   tools/pgindent.sh [--check | --raw] [--root DIR] [FILE...]
#
# Without FILE, formats src/*/*.c and src/*/*.h under the repository root
# (or DIR).  --check changes nothing: it prints a unified diff of what it
# would change and exits 1 when there is any.  --raw is --check showing
# GNU indent's own output, before the filter described below (to see what
# that filter keeps out; never apply it).
#
# GNU indent is not pg_bsd_indent: it re-breaks and joins long lines, which
# pgindent never does, and it misreads some PostgreSQL macros.  So this
# script only ever changes the width of blanks *inside* a line: a source
# line is replaced by the line GNU indent made of it only when the two have
# the same tokens with blanks at the same places (so: indentation,
# alignment of declarations and of trailing comments, tabs against spaces,
# trailing blanks).  Lines GNU indent joined, split or otherwise rewrote
# are left exactly as they are, and so are blank lines and the text of
# comments.  See docs/development.md, "Code layout".

set -euo pipefail

check=false
raw=false
root=$(cd "$(dirname "$0")/.." && pwd)
files=()
while [ $# -gt 0 ]; do
	case "$1" in
		--check) check=true ;;
		--raw) check=true; raw=true ;;
		--root) root=$(cd "$2" && pwd); shift ;;
		-h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		-*) echo "pgindent.sh: unknown option $1" >&2; exit 2 ;;
		*) files+=("$(realpath "$1")") ;;
	esac
	shift
done

command -v indent >/dev/null || { echo "pgindent.sh: GNU indent is missing (apt-get install indent)" >&2; exit 2; }
case "$(indent --version 2>/dev/null)" in
	"GNU indent"*) ;;
	*) echo "pgindent.sh: needs GNU indent" >&2; exit 2 ;;
esac

cd "$root"
if [ ${#files[@]} -eq 0 ]; then
	shopt -s nullglob
	files=(src/*/*.c src/*/*.h)
fi
[ ${#files[@]} -gt 0 ] || { echo "pgindent.sh: no files under $root" >&2; exit 2; }

# The options PostgreSQL's old pgindent (9.x) gave GNU indent: "-bad -bap
# -bc -bl -d0 -cdb -nce -nfc1 -di12 -i4 -l79 -lp -nip -npro -bbb" and, for
# GNU indent, "-cdb -bli0 -npcs -cli4 -sc"; here without -cdb and -sc
# (they rewrite comments), with tabs of 4 columns (-ts4 -ut), comments
# left as written (-nfca -nsc), PostgreSQL's column for comments after
# #else / #endif (-cp33), and breaks at the input's newlines (-hnl).
INDENT_OPTS="-bad -bap -bc -bl -bli0 -d0 -di12 -i4 -l79 -hnl -lp -nip -npro -bbb
	-nce -npcs -cli4 -ts4 -ut -cp33 -nfc1 -nfca -nsc"

work=$(mktemp -d /tmp/pgindent.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- typedef names: GNU indent must know them to lay out declarations ---
# The repository's own (typedef ... Name; and } Name;), and those of the
# PostgreSQL server headers that the files use.
pg_includedir=$(pg_config --includedir-server 2>/dev/null || echo /usr/include/postgresql/15/server)
cat "${files[@]}" | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | sort -u > "$work/idents"
{
	find "$pg_includedir" -name '*.h' -print0 2>/dev/null | xargs -0 -r cat
	cat src/*/*.h src/*/*.c 2>/dev/null
} | awk '
	/^[ \t]*typedef/ && match($0, /\(\*[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*\)/) {
		t = substr($0, RSTART + 2, RLENGTH - 3); gsub(/[ \t]/, "", t); print t; next }
	/^[ \t]*typedef[^;(]*;/ {
		s = $0; gsub(/\[[^]]*\]/, "", s)
		if (match(s, /[A-Za-z_][A-Za-z0-9_]*[ \t]*;/)) {
			t = substr(s, RSTART, RLENGTH); gsub(/[ \t;]/, "", t); print t }
		next }
	/^}[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*;/ {
		t = $0; sub(/^}[ \t]*/, "", t); sub(/[ \t]*;.*/, "", t); print t }
' | sort -u > "$work/typedefs.all"
printf '%s\n' pid_t size_t ssize_t sig_atomic_t FILE va_list >> "$work/typedefs.all"
# pgindent leaves out the same few names
sort -u "$work/typedefs.all" | grep -vxE 'FD_SET|date|interval|timestamp|ANY' \
	| comm -12 - "$work/idents" > "$work/typedefs"
typedef_opts=$(sed 's/^/-T /' "$work/typedefs" | tr '\n' ' ')

# --- helpers ---
cat > "$work/mask.pl" <<'EOF'
# Hide what GNU indent misreads: foreach() is a loop (written as for), and
# a type name as a macro argument (IsA(node, Type)) is not a declaration.
while (<>)
{
	s/\bforeach\(([A-Za-z_]\w*),[ \t]*/for (\1; PGI_FOREACH; /g;
	s/\b(IsA|castNode|makeNode|lfirst_node|linitial_node|lsecond_node|llast_node|list_nth_node)\(([^()]*?)\b([A-Z]\w*)\b/$1($2PGI_T_$3/g;
	print;
}
EOF
cat > "$work/unmask.pl" <<'EOF'
while (<>)
{
	s/\bfor \(([A-Za-z_]\w*); PGI_FOREACH; /foreach(\1, /g;
	s/PGI_T_//g;
	# pgindent: "char *" alone on the line before a function name
	s/^([A-Za-z_]\S*)[ \t]+\*$/$1 */;
	# pgindent keeps the blank in "(*name) (args)" and "{0}" without blanks
	s/\(\*([A-Za-z_]\w*)\)\(/(*$1) (/g;
	s/\{ ([^{}]*?) \}/{$1}/g;
	print;
}
EOF
cat > "$work/entab.pl" <<'EOF'
# Blanks between tokens as pg_bsd_indent -ts4 -tpg writes them: tabs up to
# each 4-column tab stop, except that a tab which would advance a single
# column is a space unless another tab stop follows.  String and character
# literals and comments are left alone; trailing blanks go.
my $in_comment = 0;
while (my $line = <STDIN>)
{
	chomp $line;
	my ($out, $col, $start, $q) = ('', 0, -1, '');
	my @ch = split //, $line;
	my $flush = sub {
		return if $start < 0;
		my ($pos, $e) = ($start, $col);
		while ((my $tpos = 4 * (1 + int($pos / 4))) <= $e)
		{
			$out .= ($tpos != $pos + 1 || $e >= $tpos + 4) ? "\t" : ' ';
			$pos = $tpos;
		}
		$out .= ' ' x ($e - $pos);
		$start = -1;
	};
	for (my $k = 0; $k < @ch; $k++)
	{
		my $c = $ch[$k];
		my $next = $k + 1 < @ch ? $ch[$k + 1] : '';
		if ($in_comment)
		{
			$out .= $c;
			$col = $c eq "\t" ? $col + 4 - $col % 4 : $col + 1;
			if ($c eq '*' && $next eq '/') { $out .= '/'; $col++; $k++; $in_comment = 0; }
			next;
		}
		if ($q eq '' && ($c eq ' ' || $c eq "\t"))
		{
			$start = $col if $start < 0;
			$col = $c eq "\t" ? $col + 4 - $col % 4 : $col + 1;
			next;
		}
		$flush->();
		if ($q ne '')
		{
			if ($c eq '\\') { $out .= $c . $next; $col += 2; $k++; next; }
			$q = '' if $c eq $q;
		}
		elsif ($c eq '"' || $c eq "'") { $q = $c; }
		elsif ($c eq '/' && $next eq '*')
		{
			# a comment after code goes to column 33 (1-based), or to the
			# next tab stop when the code reaches it (pg_bsd_indent -c33)
			if ($out =~ /\S/ && $out =~ s/[ \t]+$//)
			{
				my $pos = 0;
				foreach my $x (split //, $out) { $pos = $x eq "\t" ? $pos + 4 - $pos % 4 : $pos + 1; }
				my $target = 32 > $pos ? 32 : 4 * (1 + int(($pos) / 4));
				($start, $col) = ($pos, $target);
				$flush->();
			}
			$in_comment = 1; $out .= '/*'; $col += 2; $k++; next;
		}
		elsif ($c eq '/' && $next eq '/') { $out .= join('', @ch[$k .. $#ch]); last; }
		$out .= $c;
		$col++;
	}
	$out =~ s/[ \t]+$//;
	print "$out\n";
}
EOF
cat > "$work/merge.pl" <<'EOF'
# merge.pl ORIG FORMATTED: ORIG, with a line replaced by the FORMATTED line
# that holds the same tokens (lines paired in order, by diff over the lines
# without blanks) only when
#  - the two differ only in the width of blanks: indentation, or blanks
#    between tokens that both have (GNU indent adds or drops blanks where it
#    misreads a cast or an initializer; pgindent would not);
#  - the line is not inside a comment, nor a label;
#  - its layout cannot depend on a line that was not taken: the line before
#    it was taken (or already is as GNU indent makes it), or ends a
#    statement, a block, a comment or a preprocessor line.
my ($orig, $fmt) = @ARGV;
sub slurp { open(my $fh, '<', $_[0]) or die "$_[0]: $!"; my @l = <$fh>; chomp @l; return @l; }
sub norm { my $s = shift; $s =~ s/^[ \t]+//; $s =~ s/[ \t]+$//; $s =~ s/[ \t]+/ /g; return $s; }
my @a = slurp($orig);
my @b = slurp($fmt);
for my $p ([\@a, "$fmt.a"], [\@b, "$fmt.b"])
{
	open(my $fh, '>', $p->[1]) or die;
	print $fh map { (my $s = $_) =~ s/[ \t]+//g; "$s\n" } @{$p->[0]};
	close $fh;
}
my @ops = `diff --old-line-format='O\n' --new-line-format='N\n' --unchanged-line-format='U\n' '$fmt.a' '$fmt.b'`;
my ($i, $j, $prev_ok, $in_comment) = (0, 0, 1, 0);
foreach my $op (@ops)
{
	chomp $op;
	if ($op eq 'N') { $j++; next; }
	my $line = $a[$i];
	my $prev = $i > 0 ? $a[$i - 1] : '';
	my $clean = $prev_ok || $prev =~ /^\s*$/ || $prev =~ /[;{}]\s*$/ ||
		$prev =~ /\*\/\s*$/ || $prev =~ /^\s*#/ ||
		($prev =~ /:\s*$/ && $prev !~ /[?,(]/);
	my $take = $op eq 'U' && !$in_comment && $clean && $prev !~ /\\$/ &&
		$line !~ /^\s*(\/\*|\*)/ && $line !~ /^\s*[A-Za-z_]\w*:\s*$/ &&
		norm($line) eq norm($b[$j]);
	my $out = $take ? $b[$j] : $line;
	# a continued statement or declaration keeps its indentation (GNU
	# indent does not line up continued declarators as pgindent does)
	if ($take && ($prev =~ /[,(]\s*$/ || $prev =~ /(&&|\|\||[-+*\/%=?<>|&^])\s*$/))
	{
		my ($lead) = $line =~ /^([ \t]*)/;
		($out = $b[$j]) =~ s/^[ \t]*/$lead/;
	}
	print "$out\n";
	$prev_ok = $out eq $b[$j];
	# block comments of the original
	(my $code = $line) =~ s/"(\\.|[^"\\])*"//g;
	while ($code =~ /(\/\*|\*\/)/g) { $in_comment = $1 eq '/*' ? 1 : 0; }
	$i++;
	$j++ if $op eq 'U';
}
EOF

# --- format each file into $work, compare ---
status=0
for f in "${files[@]}"; do
	[ -f "$f" ] || { echo "pgindent.sh: no such file: $f" >&2; exit 2; }
	t="$work/$(echo "$f" | tr / _)"
	perl "$work/mask.pl" "$f" > "$t.in"
	# shellcheck disable=SC2086
	if ! indent $INDENT_OPTS $typedef_opts -st "$t.in" > "$t.ind" 2> "$t.err"; then
		echo "pgindent.sh: GNU indent failed on $f:" >&2; cat "$t.err" >&2; status=2; continue
	fi
	[ -s "$t.err" ] && { echo "pgindent.sh: GNU indent warns on $f:" >&2; cat "$t.err" >&2; }
	perl "$work/unmask.pl" "$t.ind" | perl "$work/entab.pl" > "$t.fmt"
	if $raw; then
		cp "$t.fmt" "$t.out"
	else
		perl "$work/merge.pl" "$f" "$t.fmt" > "$t.out"
	fi
	if ! cmp -s "$f" "$t.out"; then
		if $check; then
			name=${f#"$root"/}
			diff -u --label "a/$name" --label "b/$name" "$f" "$t.out" || true
			[ $status -eq 0 ] && status=1
		else
			cat "$t.out" > "$f"
			echo "formatted $f"
		fi
	fi
done
exit $status
