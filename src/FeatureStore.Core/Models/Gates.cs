// Promotion gates: the small grammar a model's `gates:` entries are written in, and their verdicts.
using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Performance;

namespace FeatureStore.Core.Models;

/// <summary>What a promotion gate measures.</summary>
public enum GateKind
{
    /// <summary>A validation metric of the candidate version's stored reference performance.</summary>
    Metric,

    /// <summary><c>lookup_p99_ms</c>: the 99th percentile of a probe of online lookups of the version's features.</summary>
    LookupLatency,

    /// <summary><c>psi(COLUMN) vs production</c>: the candidate's validation column against the production baseline's bins.</summary>
    Psi,
}

/// <summary>
/// One promotion gate as declared: <c>roc_auc &gt;= 0.85</c>, <c>roc_auc &gt;= production - 0.01</c>,
/// <c>lookup_p99_ms &lt;= 5</c>, <c>psi(score) vs production &lt;= 0.2</c>.
/// </summary>
/// <param name="Text">The gate as written.</param>
/// <param name="Kind">What it measures.</param>
/// <param name="Subject">The metric name, <c>lookup_p99_ms</c>, or the column of a PSI gate.</param>
/// <param name="Operator">One of <c>&gt;=</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&lt;</c>.</param>
/// <param name="Number">The bound; for a gate relative to production, the signed offset added to the production value.</param>
/// <param name="RelativeToProduction">True for <c>METRIC OP production ± NUMBER</c>.</param>
public sealed record PromotionGate(string Text, GateKind Kind, string Subject, string Operator, double Number, bool RelativeToProduction)
{
    /// <summary>The bound the value is compared with: <see cref="Number"/>, or the production value plus it (null without one).</summary>
    public double? Bound(double? production) => RelativeToProduction ? production + Number : Number;

    /// <summary>True when <paramref name="value"/> satisfies the gate against <paramref name="bound"/>.</summary>
    public bool Holds(double value, double bound) => Operator switch
    {
        ">=" => value >= bound,
        "<=" => value <= bound,
        ">" => value > bound,
        _ => value < bound,
    };
}

/// <summary>A gate's outcome at one promotion.</summary>
/// <param name="Gate">The gate as written.</param>
/// <param name="Value">The measured value, or null when there was none.</param>
/// <param name="Bound">The bound it was compared with, or null when there was none.</param>
/// <param name="Passed">The verdict.</param>
/// <param name="Detail">Why it failed without a value, or what was measured; null when the numbers say it all.</param>
public sealed record GateResult(string Gate, double? Value, double? Bound, bool Passed, string? Detail);

/// <summary>A syntax error in a gate: where in its text, what is wrong, what to write instead.</summary>
/// <param name="Offset">0-based character offset in the gate's text.</param>
/// <param name="Code">The diagnostic code.</param>
/// <param name="Message">What is wrong.</param>
/// <param name="Hint">What to write instead.</param>
public sealed record GateSyntaxError(int Offset, string Code, string Message, string Hint);

/// <summary>Parses and evaluates promotion gates (pure).</summary>
public static class Gates
{
    /// <summary>The subject of the latency gate.</summary>
    public const string LookupP99 = "lookup_p99_ms";

    private static readonly string[] Operators = [">=", "<=", ">", "<"];

    /// <summary>Every metric a gate may name: a classifier's and a regressor's.</summary>
    public static IReadOnlyList<string> Metrics { get; } = [.. PerformanceMetrics.Classification, .. PerformanceMetrics.Regression];

    /// <summary>Parses one gate; null and <paramref name="error"/> set when it is not in the grammar.</summary>
    public static PromotionGate? Parse(string text, out GateSyntaxError? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = new Scanner(text);
        error = null;
        s.SkipSpaces();
        var subjectAt = s.Position;
        var subject = s.Word();
        if (subject.Length == 0)
        {
            error = new GateSyntaxError(subjectAt, "FS0150", $"gate '{text}' does not start with a metric", Grammar);
            return null;
        }

        var kind = subject == LookupP99 ? GateKind.LookupLatency : GateKind.Metric;
        if (subject == "psi")
        {
            s.SkipSpaces();
            if (!s.Take("("))
            {
                error = new GateSyntaxError(s.Position, "FS0150", "psi needs its column in parentheses", "write psi(score) vs production <= 0.2");
                return null;
            }

            s.SkipSpaces();
            subjectAt = s.Position;
            subject = s.Word();
            s.SkipSpaces();
            if (subject.Length == 0 || !s.Take(")"))
            {
                error = new GateSyntaxError(s.Position, "FS0150", "psi( must name one column and close with )", "write psi(score) vs production <= 0.2");
                return null;
            }

            s.SkipSpaces();
            if (s.Word() != "vs" || !s.SkipSpaces() || s.Word() != "production")
            {
                error = new GateSyntaxError(s.Position, "FS0150", "a PSI gate compares with the production version", $"write psi({subject}) vs production <= 0.2");
                return null;
            }

            kind = GateKind.Psi;
        }
        else if (kind == GateKind.Metric && !Metrics.Contains(subject))
        {
            var closest = Suggestions.Closest(subject, [.. Metrics, LookupP99, "psi"]);
            error = new GateSyntaxError(subjectAt, "FS0151", $"unknown gate metric '{subject}'",
                closest is null ? $"the metrics: {string.Join(", ", Metrics)}, {LookupP99}, psi(COLUMN)" : $"did you mean '{closest}'?");
            return null;
        }

        s.SkipSpaces();
        var operatorAt = s.Position;
        var op = Operators.FirstOrDefault(s.Take);
        if (op is null)
        {
            error = new GateSyntaxError(operatorAt, "FS0150", $"gate '{text}' has no comparison after '{subject}'", "compare with >=, <=, > or <");
            return null;
        }

        s.SkipSpaces();
        var boundAt = s.Position;
        var relative = false;
        if (kind == GateKind.Metric && s.Peek("production"))
        {
            if (s.Word() != "production")
            {
                error = new GateSyntaxError(boundAt, "FS0150", $"gate '{text}' needs a number or production to compare with", $"write {subject} {op} production - 0.01");
                return null;
            }

            relative = true;
            s.SkipSpaces();
            boundAt = s.Position;
            if (s.AtEnd)
            {
                return Done(text, kind, subject, op, 0, relative, ref error);
            }

            if (!(s.Peek("+") || s.Peek("-")))
            {
                error = new GateSyntaxError(boundAt, "FS0150", "after production comes + or - and a number, or nothing", $"write {subject} {op} production - 0.01");
                return null;
            }
        }

        var number = s.Number(relative);
        if (number is null)
        {
            error = new GateSyntaxError(boundAt, "FS0150", $"gate '{text}' needs a number to compare with",
                kind == GateKind.Metric ? $"write {subject} {op} 0.85 or {subject} {op} production - 0.01" : $"write {(kind == GateKind.Psi ? $"psi({subject}) vs production" : subject)} {op} 5");
            return null;
        }

        return Done(text, kind, subject, op, number.Value, relative, ref error, s);
    }

    /// <summary>
    /// The verdict of <paramref name="gate"/> on <paramref name="value"/>, the production value being
    /// <paramref name="production"/>: with no value, or no production value for a relative gate, it fails and says why.
    /// </summary>
    public static GateResult Evaluate(PromotionGate gate, double? value, double? production, string? missing = null)
    {
        ArgumentNullException.ThrowIfNull(gate);
        var bound = gate.Bound(production);
        if (value is not { } v || double.IsNaN(v))
        {
            return new GateResult(gate.Text, null, bound, false, missing ?? "no value");
        }

        if (bound is not { } b || double.IsNaN(b))
        {
            return new GateResult(gate.Text, v, null, false, $"the production version has no stored {gate.Subject}");
        }

        return new GateResult(gate.Text, v, b, gate.Holds(v, b), null);
    }

    /// <summary><c>0.8312</c>: a value as the verdicts print it.</summary>
    public static string Format(double? value) => value?.ToString("0.####", CultureInfo.InvariantCulture) ?? "-";

    private const string Grammar = "write METRIC OP NUMBER, METRIC OP production - NUMBER, lookup_p99_ms <= NUMBER or psi(COLUMN) vs production <= NUMBER";

    private static PromotionGate? Done(string text, GateKind kind, string subject, string op, double number, bool relative, ref GateSyntaxError? error, Scanner? rest = null)
    {
        if (rest is not null)
        {
            rest.SkipSpaces();
            if (!rest.AtEnd)
            {
                error = new GateSyntaxError(rest.Position, "FS0150", $"unexpected '{text[rest.Position..]}' at the end of the gate", Grammar);
                return null;
            }
        }

        return new PromotionGate(text.Trim(), kind, subject, op, number, relative);
    }

    private sealed class Scanner(string text)
    {
        public int Position { get; private set; }

        public bool AtEnd => Position >= text.Length;

        public bool SkipSpaces()
        {
            var start = Position;
            while (!AtEnd && char.IsWhiteSpace(text[Position]))
            {
                Position++;
            }

            return Position > start;
        }

        public bool Peek(string token) => string.CompareOrdinal(text, Position, token, 0, token.Length) == 0;

        public bool Take(string token)
        {
            if (!Peek(token))
            {
                return false;
            }

            Position += token.Length;
            return true;
        }

        public string Word()
        {
            var start = Position;
            while (!AtEnd && (char.IsAsciiLetterOrDigit(text[Position]) || text[Position] is '_' or ':' or '.'))
            {
                Position++;
            }

            return text[start..Position];
        }

        /// <summary>A number, with its sign; <paramref name="spacedSign"/> allows spaces between the sign and the digits (<c>production - 0.01</c>).</summary>
        public double? Number(bool spacedSign)
        {
            var start = Position;
            var negative = false;
            if (Peek("+") || Peek("-"))
            {
                negative = text[Position] == '-';
                Position++;
                if (spacedSign)
                {
                    SkipSpaces();
                }
            }

            var digits = Position;
            while (!AtEnd && (char.IsAsciiDigit(text[Position]) || text[Position] is '.' or 'e' or 'E'
                || (text[Position] is '+' or '-' && Position > digits && text[Position - 1] is 'e' or 'E')))
            {
                Position++;
            }

            if (Position == digits || !double.TryParse(text.AsSpan(digits, Position - digits), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                Position = start;
                return null;
            }

            return negative ? -value : value;
        }
    }
}
