// The functions a request-time feature's expression may call: the only code an expression can reach besides
// its operators. Every function takes and gives nullable values and gives null for a null argument (except
// coalesce, whose purpose is to replace one), and null for a result that is not a finite number.
namespace FeatureStore.Core.Expressions;

/// <summary>The functions of request-time expressions, by name (docs/request-features.md lists them).</summary>
public static class ExpressionFunctions
{
    /// <summary>Each function's overloads, by the name an expression calls it by.</summary>
    public static IReadOnlyList<(string Name, Delegate Function)> All { get; } =
    [
        ("log", (Func<double?, double?>)(x => Finite(x is { } v ? Math.Log(v) : null))),
        ("log1p", (Func<double?, double?>)(x => Finite(x is { } v ? Math.Log(1 + v) : null))),
        ("exp", (Func<double?, double?>)(x => Finite(x is { } v ? Math.Exp(v) : null))),
        ("sqrt", (Func<double?, double?>)(x => Finite(x is { } v ? Math.Sqrt(v) : null))),
        ("abs", (Func<double?, double?>)(x => x is { } v ? Math.Abs(v) : null)),
        ("round", (Func<double?, double?>)(x => x is { } v ? Math.Round(v, MidpointRounding.AwayFromZero) : null)),
        ("floor", (Func<double?, double?>)(x => x is { } v ? Math.Floor(v) : null)),
        ("ceil", (Func<double?, double?>)(x => x is { } v ? Math.Ceiling(v) : null)),
        ("pow", (Func<double?, double?, double?>)((x, y) => Finite(x is { } a && y is { } b ? Math.Pow(a, b) : null))),
        ("min", (Func<double?, double?, double?>)((x, y) => x is { } a && y is { } b ? Math.Min(a, b) : null)),
        ("max", (Func<double?, double?, double?>)((x, y) => x is { } a && y is { } b ? Math.Max(a, b) : null)),
        ("safe_div", (Func<double?, double?, double?>)((x, y) => x is { } a && y is { } b && b != 0 ? Finite(a / b) : null)),
        ("coalesce", (Func<double?, double?, double?>)((x, y) => x ?? y)),
        ("coalesce", (Func<string?, string?, string?>)((x, y) => x ?? y)),
        ("coalesce", (Func<bool?, bool?, bool?>)((x, y) => x ?? y)),
        ("is_null", (Func<double?, bool>)(x => x is null)),
        ("is_null", (Func<string?, bool>)(x => x is null)),
        ("is_null", (Func<DateTime?, bool>)(x => x is null)),
        ("lower", (Func<string?, string?>)(x => x?.ToLowerInvariant())),
        ("upper", (Func<string?, string?>)(x => x?.ToUpperInvariant())),
        ("length", (Func<string?, double?>)(x => x?.Length)),
        ("year", (Func<DateTime?, double?>)(t => t?.Year)),
        ("month", (Func<DateTime?, double?>)(t => t?.Month)),
        ("day", (Func<DateTime?, double?>)(t => t?.Day)),
        ("hour", (Func<DateTime?, double?>)(t => t?.Hour)),
        ("minute", (Func<DateTime?, double?>)(t => t?.Minute)),
        ("day_of_week", (Func<DateTime?, double?>)(t => t is { } v ? ((int)v.DayOfWeek + 6) % 7 + 1 : null)),
        ("epoch_ms", (Func<DateTime?, double?>)(t => t is { } v ? (v - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMillisecond : null)),
    ];

    /// <summary>The distinct function names.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(f => f.Name).Distinct()];

    private static double? Finite(double? x) => x is { } v && double.IsFinite(v) ? v : null;
}
