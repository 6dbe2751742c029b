// How request views that read request-time features are compiled and evaluated: each view's own expressions (a
// core), the order its features are evaluated in, the checks for cycles between features and between views, and
// the buffers one evaluation reuses.
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Expressions;

public sealed partial class CompiledRequestView
{
    /// <summary>The diagnostic codes of reads between request-time features.</summary>
    public static class Codes
    {
        /// <summary>Request-time features that read each other in a cycle (a feature reading itself included), or request views reading each other.</summary>
        public const string Cycle = "FS0186";

        /// <summary>A request view reads another whose context field of the same name has another type.</summary>
        public const string Conflict = "FS0187";

        /// <summary>An expression reads a list or counts feature (last_n, last_n_distinct, top_k), which has no number or text.</summary>
        public const string NotScalar = "FS0188";
    }

    // One view of a plan: its core, where its context fields are in the merged context, and where each of its
    // dependencies comes from: (-1, index of a stored value) or (step, feature) of a request view's result.
    private sealed record Step(Core Core, int[] ContextMap, (int Step, int Index)[] DependencyMap);

    // The buffers of one evaluation, per step: the slots, the inputs of its features, its results.
    private sealed class Scratch
    {
        public Scratch(Step[] plan)
        {
            Slots = [.. plan.Select(s => s.Core.NewSlots())];
            Inputs = [.. plan.Select(s => new FeatureValue[s.DependencyMap.Length])];
            Results = [.. plan.Select(s => new FeatureValue[s.Core.Features.Length])];
        }

        public ExpressionSlots[] Slots { get; }

        public FeatureValue[][] Inputs { get; }

        public FeatureValue[][] Results { get; }
    }

    // One request view's own expressions, compiled over one slot layout; the features of request views it reads
    // are dependencies like stored ones.
    private sealed class Core
    {
        private Core(RequestViewDefinition definition, SlotLayout layout, (ExpressionKind, int)[] context, CompiledExpression[] features)
        {
            Definition = definition;
            Layout = layout;
            ContextKinds = context;
            Features = features;
        }

        public RequestViewDefinition Definition { get; }

        public SlotLayout Layout { get; }

        public (ExpressionKind Kind, int Slot)[] ContextKinds { get; }

        public CompiledExpression[] Features { get; }

        /// <summary>The order its features are evaluated in: a feature after those of its own view it reads.</summary>
        public int[] Order { get; private set; } = [];

        /// <summary>Per feature, the dependencies that name it (its own view's features reading it).</summary>
        public int[][] ReadersOf { get; private set; } = [];

        public ExpressionSlots NewSlots() => new(Layout.Count(ExpressionKind.Number), Layout.Count(ExpressionKind.Text), Layout.Count(ExpressionKind.Flag), Layout.Count(ExpressionKind.Time));

        /// <summary>The (request view, feature) a dependency names, or (-1, -1) for a stored feature.</summary>
        public (int View, int Feature) Target(int dependency, Dictionary<string, int> byName, Core?[] cores)
        {
            var name = Layout.Dependencies[dependency].Name;
            var dot = name.IndexOf('.', StringComparison.Ordinal);
            return byName.TryGetValue(name[..dot], out var v) ? (v, cores[v]?.Definition.IndexOf(name[(dot + 1)..]) ?? -1) : (-1, -1);
        }

        public IEnumerable<int> ReadViews(Dictionary<string, int> byName) => Layout.Dependencies
            .Select(d => d.Name[..d.Name.IndexOf('.', StringComparison.Ordinal)])
            .Where(byName.ContainsKey).Select(n => byName[n]).Distinct();

        /// <summary>Where <paramref name="reference"/> (view.feature) is in feature <paramref name="f"/>'s expression, or 0.</summary>
        public int PositionOf(int f, string reference)
        {
            var text = Definition.Features[f].Expression;
            for (var at = text.IndexOf(reference, StringComparison.Ordinal); at >= 0; at = text.IndexOf(reference, at + 1, StringComparison.Ordinal))
            {
                var before = at == 0 || !(char.IsAsciiLetterOrDigit(text[at - 1]) || text[at - 1] is '_' or '.');
                var end = at + reference.Length;
                var after = end == text.Length || !(char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_');
                if (before && after)
                {
                    return at;
                }
            }

            return 0;
        }

        public static Core? Compile(
            RequestViewDefinition definition, Func<string, string, ExpressionKind?> resolve, IReadOnlyCollection<string> views, Action<int, ExpressionError> report)
        {
            var layout = new SlotLayout();
            var context = new (ExpressionKind, int)[definition.Context.Count];
            for (var i = 0; i < context.Length; i++)
            {
                var place = layout.Add(definition.Context[i].Name, KindOf(definition.Context[i].Kind), dependency: false);
                context[i] = (place.Kind, place.Slot);
            }

            var features = new CompiledExpression[definition.Features.Count];
            var failed = false;
            for (var f = 0; f < features.Length; f++)
            {
                var feature = definition.Features[f];
                var compiled = ExpressionCompiler.Compile(feature.Expression, layout, resolve, views, out var error);
                if (compiled is not null && !Fits(compiled.Result, feature.Type))
                {
                    error = new ExpressionError(0, ExpressionCompiler.Codes.TypeOrSyntax,
                        $"the expression gives {Describe(compiled.Result)} but feature '{feature.Name}' is declared {feature.Type.ToString().ToLowerInvariant()}",
                        compiled.Result switch
                        {
                            ExpressionKind.Number => "declare type: double (or int)",
                            ExpressionKind.Text => "declare type: string",
                            ExpressionKind.Flag => "a feature's value is a number or text: write (condition) ? 1 : 0 with type: int",
                            _ => "read a part of it: hour(t), day_of_week(t), epoch_ms(t), ...",
                        });
                    compiled = null;
                }

                if (compiled is null)
                {
                    report(f, error!);
                    failed = true;
                    continue;
                }

                features[f] = compiled;
            }

            if (failed)
            {
                return null;
            }

            var core = new Core(definition, layout, context, features);
            core.SortOwn();
            return core;
        }

        // Kahn's order over the reads between its own features (a cycle leaves features out; the graph check reports it).
        private void SortOwn()
        {
            var readers = Enumerable.Range(0, Features.Length).Select(_ => new List<int>()).ToArray();
            var reads = Enumerable.Range(0, Features.Length).Select(_ => new HashSet<int>()).ToArray();
            for (var d = 0; d < Layout.Dependencies.Count; d++)
            {
                var name = Layout.Dependencies[d].Name;
                var dot = name.IndexOf('.', StringComparison.Ordinal);
                if (name[..dot] == Definition.Name && Definition.IndexOf(name[(dot + 1)..]) is var g and >= 0)
                {
                    readers[g].Add(d);
                    for (var f = 0; f < Features.Length; f++)
                    {
                        if (Features[f].Dependencies.Contains(d))
                        {
                            reads[f].Add(g);
                        }
                    }
                }
            }

            var order = new List<int>();
            var done = new bool[Features.Length];
            var progress = true;
            while (progress)
            {
                progress = false;
                for (var f = 0; f < Features.Length; f++)
                {
                    if (!done[f] && reads[f].All(g => done[g] && g != f))
                    {
                        done[f] = true;
                        order.Add(f);
                        progress = true;
                    }
                }
            }

            Order = [.. order];
            ReadersOf = [.. readers.Select(r => r.ToArray())];
        }
    }

    // Cycles between request-time features, then between request views; a view that reads a failed one fails too.
    private static class RequestGraph
    {
        public static void Check(Core?[] cores, Dictionary<string, int> byName, bool[] failed, Action<int, int, ExpressionError> report)
        {
            var state = cores.Select(c => new byte[c?.Features.Length ?? 0]).ToArray(); // 0 new, 1 on the path, 2 done
            var path = new List<(int View, int Feature)>();
            for (var v = 0; v < cores.Length; v++)
            {
                for (var f = 0; f < state[v].Length; f++)
                {
                    if (state[v][f] == 0)
                    {
                        Walk(v, f, cores, byName, state, path, failed, report);
                    }
                }
            }

            ViewCycles(cores, byName, failed, report);
            for (var changed = true; changed;)
            {
                changed = false;
                for (var v = 0; v < cores.Length; v++)
                {
                    if (!failed[v] && cores[v]!.ReadViews(byName).Any(r => failed[r]))
                    {
                        failed[v] = changed = true;
                    }
                }
            }
        }

        // Depth first, without recursion (a chain of request-time features may be long).
        private static void Walk(
            int v0, int f0, Core?[] cores, Dictionary<string, int> byName, byte[][] state, List<(int View, int Feature)> path, bool[] failed, Action<int, int, ExpressionError> report)
        {
            var stack = new Stack<(int View, int Feature, int Next)>();
            stack.Push((v0, f0, 0));
            state[v0][f0] = 1;
            path.Add((v0, f0));
            while (stack.Count > 0)
            {
                var (v, f, next) = stack.Pop();
                var dependencies = cores[v]!.Features[f].Dependencies;
                var pushed = false;
                for (var i = next; i < dependencies.Length; i++)
                {
                    var (rv, rf) = cores[v]!.Target(dependencies[i], byName, cores);
                    if (rv < 0 || rf < 0)
                    {
                        continue;
                    }

                    if (state[rv][rf] == 1)
                    {
                        var from = path.IndexOf((rv, rf));
                        var nodes = path.Skip(from).ToList();
                        nodes.Add((rv, rf));
                        var cycle = nodes.Select(n => cores[n.View]!.Definition.Name + "." + cores[n.View]!.Definition.Features[n.Feature].Name).ToList();
                        var reference = cycle[^1];
                        report(v, f, new ExpressionError(cores[v]!.PositionOf(f, reference), Codes.Cycle,
                            cycle.Count == 2 ? $"request-time feature {reference} reads itself" : "request-time features read each other in a cycle: " + string.Join(" -> ", cycle),
                            "a request-time feature may read others only when none reads it back: compute the shared part in one feature that the others read"));
                        foreach (var node in path.Skip(from))
                        {
                            failed[node.View] = true;
                        }

                        continue;
                    }

                    if (state[rv][rf] == 0)
                    {
                        stack.Push((v, f, i + 1));
                        stack.Push((rv, rf, 0));
                        state[rv][rf] = 1;
                        path.Add((rv, rf));
                        pushed = true;
                        break;
                    }
                }

                if (!pushed)
                {
                    state[v][f] = 2;
                    path.RemoveAt(path.Count - 1);
                }
            }
        }

        // Two views whose features read each other's (without a cycle of features) are refused: a view is evaluated whole.
        private static void ViewCycles(Core?[] cores, Dictionary<string, int> byName, bool[] failed, Action<int, int, ExpressionError> report)
        {
            var state = new byte[cores.Length];
            for (var v0 = 0; v0 < cores.Length; v0++)
            {
                if (cores[v0] is null || failed[v0] || state[v0] != 0)
                {
                    continue;
                }

                var stack = new Stack<(int View, int[] Reads, int Next)>();
                var path = new List<int> { v0 };
                state[v0] = 1;
                stack.Push((v0, [.. cores[v0]!.ReadViews(byName).Where(r => r != v0)], 0));
                while (stack.Count > 0)
                {
                    var (v, reads, next) = stack.Pop();
                    var pushed = false;
                    for (var i = next; i < reads.Length; i++)
                    {
                        var r = reads[i];
                        if (cores[r] is null)
                        {
                            continue;
                        }

                        if (state[r] == 1)
                        {
                            var cycle = path.Skip(path.IndexOf(r)).Append(r).Select(n => cores[n]!.Definition.Name).ToList();
                            var reader = Enumerable.Range(0, cores[v]!.Features.Length)
                                .FirstOrDefault(f => cores[v]!.Features[f].Dependencies.Any(d => cores[v]!.Target(d, byName, cores).View == r));
                            var name = cores[v]!.Layout.Dependencies.First(d => d.Name.StartsWith(cores[r]!.Definition.Name + ".", StringComparison.Ordinal)).Name;
                            report(v, reader, new ExpressionError(cores[v]!.PositionOf(reader, name), Codes.Cycle,
                                "request views read each other: " + string.Join(" -> ", cycle),
                                "a request view is evaluated whole, after the views it reads: let the reads between two views go one way"));
                            foreach (var n in path.Skip(path.IndexOf(r)))
                            {
                                failed[n] = true;
                            }

                            continue;
                        }

                        if (state[r] == 0)
                        {
                            stack.Push((v, reads, i + 1));
                            stack.Push((r, [.. cores[r]!.ReadViews(byName).Where(x => x != r)], 0));
                            state[r] = 1;
                            path.Add(r);
                            pushed = true;
                            break;
                        }
                    }

                    if (!pushed)
                    {
                        state[v] = 2;
                        path.RemoveAt(path.Count - 1);
                    }
                }
            }
        }
    }
}
