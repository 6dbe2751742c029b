// Request-time expressions are parsed by DynamicExpresso (C# expression syntax, compiled to LINQ expression
// trees) with no types referenced, then every node of the tree it builds is checked against a list of what an
// expression may contain before the tree is compiled to a delegate: operators, constants, the inputs and the
// functions of ExpressionFunctions. Anything else (a method call, a member, a type, a constructor, a lambda)
// is rejected at validation and never compiled, let alone run (docs/request-features.md, "Sandbox").
using System.Linq.Expressions;
using DynamicExpresso;
using FeatureStore.Core.Definitions;
using DynamicExpresso.Exceptions;
using LinqExpression = System.Linq.Expressions.Expression;

namespace FeatureStore.Core.Expressions;

/// <summary>What a name or a result of a request-time expression holds.</summary>
public enum ExpressionKind
{
    /// <summary>A number (int and double fields, every numeric feature), a double in the expression.</summary>
    Number,

    /// <summary>Text.</summary>
    Text,

    /// <summary>True or false.</summary>
    Flag,

    /// <summary>An instant (a timestamp field), UTC.</summary>
    Time,

    /// <summary>A list or counts (last_n, last_n_distinct, top_k): no expression can read it (FS0188).</summary>
    List,
}

/// <summary>A problem with an expression: where in its text (0-based), its diagnostic code, what is wrong, what to write instead.</summary>
public sealed record ExpressionError(int Position, string Code, string Message, string? Hint);

/// <summary>One expression compiled: its result's kind and delegate, and the dependencies (slots of <see cref="SlotLayout"/>) it reads.</summary>
internal sealed record CompiledExpression(ExpressionKind Result, Func<ExpressionSlots, double?>? Number, Func<ExpressionSlots, string?>? Text, int[] Dependencies);

/// <summary>Where each name of a request view's expressions is read from: its kind and its place in that kind's array.</summary>
internal sealed class SlotLayout
{
    private readonly Dictionary<string, (ExpressionKind Kind, int Slot, int Dependency)> _names = new(StringComparer.Ordinal);
    private readonly int[] _counts = new int[4];

    /// <summary>The stored features read, <c>view.feature</c>, in the order first used.</summary>
    public List<(string Name, ExpressionKind Kind, int Slot)> Dependencies { get; } = [];

    public int Count(ExpressionKind kind) => _counts[(int)kind];

    public bool TryGet(string name, out (ExpressionKind Kind, int Slot, int Dependency) place) => _names.TryGetValue(name, out place);

    public IEnumerable<string> Names => _names.Keys;

    public (ExpressionKind Kind, int Slot, int Dependency) Add(string name, ExpressionKind kind, bool dependency)
    {
        if (_names.TryGetValue(name, out var existing))
        {
            return existing;
        }

        var slot = _counts[(int)kind]++;
        var place = (kind, slot, dependency ? Dependencies.Count : -1);
        if (dependency)
        {
            Dependencies.Add((name, kind, slot));
        }

        _names[name] = place;
        return place;
    }
}

/// <summary>Parses, checks and compiles request-time expressions.</summary>
internal static class ExpressionCompiler
{
    /// <summary>The longest expression accepted, in characters.</summary>
    public const int MaxLength = 2_000;

    /// <summary>The deepest nesting of parentheses accepted, and of operators in the parsed tree.</summary>
    public const int MaxDepth = 32;

    // Joins a view and its feature into one identifier of the same length, so positions stay those of the text:
    // U+1427 is a letter to the parser, and no name in a repository may contain it.
    private const char Joiner = '\u1427';

    private static readonly ParameterExpression SlotsParameter = LinqExpression.Parameter(typeof(ExpressionSlots), "slots");

    /// <summary>
    /// Compiles <paramref name="text"/>, whose plain names are <paramref name="layout"/>'s context fields and whose
    /// <c>view.feature</c> names are resolved by <paramref name="resolve"/> (null: no such feature) and added to the
    /// layout as dependencies; <paramref name="views"/> are the names of the feature views, for messages.
    /// </summary>
    public static CompiledExpression? Compile(
        string text, SlotLayout layout, Func<string, string, ExpressionKind?> resolve, IReadOnlyCollection<string> views, out ExpressionError? error)
    {
        error = Check(text);
        if (error is not null)
        {
            return null;
        }

        var chars = text.ToCharArray();
        var used = new List<int>();
        error = JoinQualifiedNames(chars, layout, resolve, views, used);
        if (error is not null)
        {
            return null;
        }

        var joined = new string(chars);
        var interpreter = new Interpreter(InterpreterOptions.SystemKeywords).SetDefaultNumberType(DefaultNumberType.Double);
        foreach (var name in layout.Names)
        {
            layout.TryGet(name, out var place);
            interpreter.SetIdentifier(new Identifier(name.Replace('.', Joiner), Read(place.Kind, place.Slot)));
        }

        foreach (var (name, function) in ExpressionFunctions.All)
        {
            interpreter.SetFunction(name, function);
        }

        LinqExpression body;
        try
        {
            body = interpreter.Parse(joined, new Parameter(SlotsParameter)).Expression;
        }
        catch (UnknownIdentifierException ex)
        {
            error = Unknown(joined, ex.Identifier, ex.Position, layout);
            return null;
        }
        catch (ParseException ex)
        {
            var message = Plain(StripPosition(ex.Message));
            // A bool context field may be null, so it is a nullable flag, which ?: && || do not take as it is.
            error = new ExpressionError(Math.Clamp(ex.Position, 0, text.Length), Codes.TypeOrSyntax, message,
                message.Contains("of type 'flag'", StringComparison.Ordinal) || message.Contains("'flag' and 'flag'", StringComparison.Ordinal)
                    ? "a bool context field may be null: compare it, as in (express == true) ? 1 : 0 or express == true && amount > 5"
                    : null);
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or NotSupportedException or DynamicExpressoException)
        {
            error = new ExpressionError(0, Codes.TypeOrSyntax, Plain(ex.Message), null);
            return null;
        }

        var sandbox = new Sandbox();
        sandbox.Visit(body);
        if (sandbox.Refused is { } refused)
        {
            error = new ExpressionError(0, Codes.NotAllowed, refused, "an expression may use its names, literals, operators (+ - * / % comparisons && || ! ?: ??) and the functions " + string.Join(", ", ExpressionFunctions.Names));
            return null;
        }

        var result = KindOf(body.Type);
        if (result is null)
        {
            error = new ExpressionError(0, Codes.TypeOrSyntax, $"the expression gives {Plain(body.Type.Name)}, not a number, text or flag", null);
            return null;
        }

        var dependencies = used.Distinct().Order().ToArray();
        return result switch
        {
            ExpressionKind.Number => new CompiledExpression(result.Value, LinqExpression.Lambda<Func<ExpressionSlots, double?>>(LinqExpression.Convert(body, typeof(double?)), SlotsParameter).Compile(), null, dependencies),
            ExpressionKind.Text => new CompiledExpression(result.Value, null, LinqExpression.Lambda<Func<ExpressionSlots, string?>>(body, SlotsParameter).Compile(), dependencies),
            _ => new CompiledExpression(result.Value, null, null, dependencies),
        };
    }

    /// <summary>The diagnostic codes expressions are reported with.</summary>
    public static class Codes
    {
        public const string UnknownName = "FS0180";
        public const string TypeOrSyntax = "FS0181";
        public const string UnknownFunction = "FS0182";
        public const string UnknownFeature = "FS0183";
        public const string NotAllowed = "FS0184";
    }

    private static ExpressionError? Check(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return new ExpressionError(0, Codes.TypeOrSyntax, "the expression is empty", "write an expression such as amount / user_txn_stats.amount_mean_24h");
        }

        if (text.Length > MaxLength)
        {
            return new ExpressionError(0, Codes.NotAllowed, $"the expression is {text.Length} characters long; at most {MaxLength} are accepted", "split it into several request-time features");
        }

        var depth = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '(' or '[')
            {
                if (++depth > MaxDepth)
                {
                    return new ExpressionError(i, Codes.NotAllowed, $"the expression nests more than {MaxDepth} parentheses deep", null);
                }
            }
            else if (c is ')' or ']')
            {
                depth--;
            }
            else if (c is Joiner || char.IsControl(c) && c is not ('\n' or '\r' or '\t'))
            {
                return new ExpressionError(i, Codes.NotAllowed, $"the character U+{(int)c:X4} is not allowed in an expression", null);
            }
        }

        return null;
    }

    // Finds `view.feature` outside string literals, resolves it, and joins it into one identifier in place.
    private static ExpressionError? JoinQualifiedNames(
        char[] chars, SlotLayout layout, Func<string, string, ExpressionKind?> resolve, IReadOnlyCollection<string> views, List<int> used)
    {
        var i = 0;
        var afterDot = false;
        while (i < chars.Length)
        {
            var c = chars[i];
            if (c is '"' or '\'')
            {
                i++;
                while (i < chars.Length && chars[i] != c)
                {
                    i += chars[i] == '\\' ? 2 : 1;
                }

                i++;
                afterDot = false;
                continue;
            }

            if (!IsStart(c) || (i > 0 && char.IsAsciiDigit(chars[i - 1])))
            {
                afterDot = c == '.';
                i++;
                continue;
            }

            var start = i;
            while (i < chars.Length && IsPart(chars[i]))
            {
                i++;
            }

            var first = new string(chars, start, i - start);
            var qualified = !afterDot && i + 1 < chars.Length && chars[i] == '.' && IsStart(chars[i + 1]) && !layout.TryGet(first, out _);
            afterDot = false;
            if (!qualified)
            {
                if (layout.TryGet(first, out var place) && place.Dependency >= 0)
                {
                    used.Add(place.Dependency);
                }

                continue;
            }

            var dot = i;
            i++;
            var second = i;
            while (i < chars.Length && IsPart(chars[i]))
            {
                i++;
            }

            var feature = new string(chars, second, i - second);
            var name = first + "." + feature;
            if (!layout.TryGet(name, out var known))
            {
                var kind = resolve(first, feature);
                if (kind is null)
                {
                    return views.Contains(first)
                        ? new ExpressionError(second, Codes.UnknownFeature, $"feature view '{first}' has no feature '{feature}'", null)
                        : new ExpressionError(start, Codes.UnknownFeature, $"unknown feature view '{first}' in '{name}'",
                            (Suggestions.Closest(first, views) is { } close ? $"did you mean '{close}'? " : "") + "a request-time feature reads the features of feature views as view.feature, and its context fields by name");
                }

                if (kind == ExpressionKind.List)
                {
                    return new ExpressionError(start, CompiledRequestView.Codes.NotScalar, $"'{name}' is a list or value counts (last_n, last_n_distinct or top_k): an expression reads numbers, texts and flags",
                        "read a scalar feature of the view (count, sum, mean, percentile, last, ...), or add one");
                }

                known = layout.Add(name, kind.Value, dependency: true);
            }

            used.Add(known.Dependency);
            chars[dot] = Joiner;
            afterDot = i < chars.Length && chars[i] == '.';
        }

        return null;
    }

    private static bool IsStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private static bool IsPart(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static ExpressionError Unknown(string text, string identifier, int position, SlotLayout layout)
    {
        var shown = identifier.Replace(Joiner, '.');
        var at = position;
        while (at < text.Length && IsPart(text[at]))
        {
            at++;
        }

        while (at < text.Length && char.IsWhiteSpace(text[at]))
        {
            at++;
        }

        if (at < text.Length && text[at] == '(')
        {
            var close = Suggestions.Closest(shown, ExpressionFunctions.Names);
            return new ExpressionError(position, Codes.UnknownFunction, $"unknown function '{shown}'",
                close is not null ? $"did you mean '{close}'?" : "functions: " + string.Join(", ", ExpressionFunctions.Names));
        }

        var names = layout.Names.Where(n => !n.Contains('.', StringComparison.Ordinal)).ToList();
        var closest = Suggestions.Closest(shown, names);
        return new ExpressionError(position, Codes.UnknownName, $"unknown name '{shown}'",
            closest is not null ? $"did you mean '{closest}'?"
            : names.Count == 0 ? "declare it under context:, or write view.feature for a stored feature"
            : $"context fields: {string.Join(", ", names)}; stored features are written view.feature");
    }

    private static LinqExpression Read(ExpressionKind kind, int slot) => LinqExpression.ArrayIndex(
        LinqExpression.Field(SlotsParameter, kind switch
        {
            ExpressionKind.Number => nameof(ExpressionSlots.Numbers),
            ExpressionKind.Text => nameof(ExpressionSlots.Texts),
            ExpressionKind.Flag => nameof(ExpressionSlots.Flags),
            _ => nameof(ExpressionSlots.Times),
        }),
        LinqExpression.Constant(slot));

    private static ExpressionKind? KindOf(Type type) =>
        type == typeof(double) || type == typeof(double?) ? ExpressionKind.Number
        : type == typeof(string) ? ExpressionKind.Text
        : type == typeof(bool) || type == typeof(bool?) ? ExpressionKind.Flag
        : type == typeof(DateTime?) ? ExpressionKind.Time
        : null;

    private static string StripPosition(string message)
    {
        var at = message.LastIndexOf(" (at index ", StringComparison.Ordinal);
        return at > 0 ? message[..at] : message;
    }

    // .NET type names as the repository calls them.
    internal static string Plain(string message) => message
        .Replace("'Nullable`1'", "'number'", StringComparison.Ordinal)
        .Replace("Nullable`1", "number", StringComparison.Ordinal)
        .Replace("Double?", "number", StringComparison.Ordinal).Replace("Double", "number", StringComparison.Ordinal)
        .Replace("Boolean?", "flag", StringComparison.Ordinal).Replace("Boolean", "flag", StringComparison.Ordinal)
        .Replace("DateTime?", "timestamp", StringComparison.Ordinal).Replace("DateTime", "timestamp", StringComparison.Ordinal)
        .Replace("String", "text", StringComparison.Ordinal)
        .Replace(Joiner, '.');

    /// <summary>Walks a parsed tree and keeps the first node an expression may not contain.</summary>
    private sealed class Sandbox : ExpressionVisitor
    {
        private static readonly HashSet<Type> Values =
        [
            typeof(double), typeof(double?), typeof(int), typeof(int?), typeof(long), typeof(long?), typeof(bool), typeof(bool?),
            typeof(string), typeof(DateTime?), typeof(DateTime), typeof(char), typeof(float), typeof(decimal), typeof(object),
        ];

        private static readonly HashSet<Delegate> Functions = [.. ExpressionFunctions.All.Select(f => f.Function)];

        private int _depth;

        public string? Refused { get; private set; }

        public override LinqExpression? Visit(LinqExpression? node)
        {
            if (node is null || Refused is not null)
            {
                return node;
            }

            if (++_depth > MaxDepth * 2)
            {
                Refused = $"the expression nests more than {MaxDepth * 2} operations deep";
                return node;
            }

            try
            {
                switch (node.NodeType)
                {
                    case ExpressionType.Add or ExpressionType.Subtract or ExpressionType.Multiply or ExpressionType.Divide or ExpressionType.Modulo
                        or ExpressionType.Equal or ExpressionType.NotEqual or ExpressionType.LessThan or ExpressionType.LessThanOrEqual
                        or ExpressionType.GreaterThan or ExpressionType.GreaterThanOrEqual or ExpressionType.AndAlso or ExpressionType.OrElse
                        or ExpressionType.Coalesce or ExpressionType.ArrayIndex:
                        var binary = (BinaryExpression)node;
                        if (binary.Method is { } method && !(method.DeclaringType == typeof(string) && method.Name is "op_Equality" or "op_Inequality"))
                        {
                            return Refuse(node, $"the operator {node.NodeType} on {Plain(binary.Left.Type.Name)}");
                        }

                        if (node.NodeType == ExpressionType.ArrayIndex && binary.Left is not MemberExpression { Expression: ParameterExpression })
                        {
                            return Refuse(node, "indexing");
                        }

                        break;
                    case ExpressionType.Not or ExpressionType.Negate or ExpressionType.UnaryPlus or ExpressionType.Convert:
                        var unary = (UnaryExpression)node;
                        if (unary.Method is not null || !Values.Contains(unary.Type) || !Values.Contains(unary.Operand.Type))
                        {
                            return Refuse(node, $"converting {Plain(unary.Operand.Type.Name)} to {Plain(unary.Type.Name)}");
                        }

                        break;
                    case ExpressionType.Conditional:
                        break;
                    case ExpressionType.Constant:
                        var constant = (ConstantExpression)node;
                        if (constant.Value is not null && !Values.Contains(constant.Value.GetType()) && !(constant.Value is Delegate d && Functions.Contains(d)))
                        {
                            return Refuse(node, "a constant of type " + constant.Type.Name);
                        }

                        break;
                    case ExpressionType.Parameter:
                        if (node != SlotsParameter)
                        {
                            return Refuse(node, "a parameter");
                        }

                        break;
                    case ExpressionType.MemberAccess:
                        var member = (MemberExpression)node;
                        var nullable = member.Member.DeclaringType is { IsGenericType: true } t && t.GetGenericTypeDefinition() == typeof(Nullable<>);
                        if (member.Expression != SlotsParameter && !nullable)
                        {
                            return Refuse(node, $"the member '{member.Member.Name}' (members, properties and methods of values cannot be used)");
                        }

                        break;
                    case ExpressionType.Invoke:
                        if (((InvocationExpression)node).Expression is not ConstantExpression { Value: Delegate function } || !Functions.Contains(function))
                        {
                            return Refuse(node, "calling a delegate");
                        }

                        break;
                    case ExpressionType.Call:
                        var call = (MethodCallExpression)node;
                        if (!(call.Method.DeclaringType == typeof(string) && call.Method.Name == nameof(string.Concat) && call.Arguments.All(a => a.Type == typeof(string))))
                        {
                            return Refuse(node, $"calling the method '{call.Method.Name}' (only the functions listed can be called)");
                        }

                        break;
                    default:
                        return Refuse(node, "a " + node.NodeType + " expression");
                }

                return base.Visit(node);
            }
            finally
            {
                _depth--;
            }
        }

        private LinqExpression Refuse(LinqExpression node, string what)
        {
            Refused = "not allowed in an expression: " + what;
            return node;
        }
    }
}
