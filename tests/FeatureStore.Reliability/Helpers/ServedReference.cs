using System.Diagnostics;
using System.Globalization;
using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Ingest.Tests;
using Google.Protobuf.WellKnownTypes;
using CoreValue = FeatureStore.Core.Windows.FeatureValue;
using WireValue = FeatureStore.Contracts.V1.FeatureValue;

namespace FeatureStore.Reliability.Helpers;

/// <summary>
/// Entities of views looked up at given instants through running servers over gRPC, every value compared with the
/// §4 reference of an <see cref="IngestScenario"/>. The reference is computed once (<see cref="Compute"/>, which a
/// test may run while it waits for ingest) whichever server is asked; mismatches are collected (the first few
/// described), so one failure shows how far the answers are off.
/// </summary>
internal sealed class ServedReference(IngestScenario scenario, IReadOnlyList<(CompiledView View, string[] Entities)> lookups, long[] instants)
{
    private const int RowsPerLookup = 500;
    private readonly Dictionary<(string View, string Entity, long AtMs), CoreValue[]> _expected = [];

    /// <summary>Values compared so far.</summary>
    public int Compared { get; private set; }

    /// <summary>The first mismatches found (at most 10).</summary>
    public List<string> Mismatches { get; } = [];

    /// <summary>How many values differed from the reference.</summary>
    public int MismatchCount { get; private set; }

    /// <summary>Time spent computing the reference.</summary>
    public TimeSpan ReferenceTime { get; private set; }

    /// <summary>Computes the reference of every entity at every instant (from the scenario's events, all produced by now).</summary>
    public ServedReference Compute()
    {
        var clock = Stopwatch.StartNew();
        foreach (var (view, entities) in lookups)
        {
            foreach (var entity in entities)
            {
                foreach (var at in instants)
                {
                    _expected[(view.Name, entity, at)] = scenario.Reference(view, entity, at);
                }
            }
        }

        ReferenceTime = clock.Elapsed;
        return this;
    }

    /// <summary>Looks every entity up at every instant through <paramref name="client"/> (a few hundred rows a call) and compares each value.</summary>
    public async Task CompareAsync(FeatureStoreClient client, string server, CancellationToken cancellationToken)
    {
        foreach (var (view, entities) in lookups)
        {
            var joinKey = scenario.Compiled.Repository.FindEntity(view.Definition.Entity)!.JoinKeys[0];
            foreach (var at in instants)
            {
                foreach (var chunk in entities.Chunk(RowsPerLookup))
                {
                    var request = new GetOnlineFeaturesRequest
                    {
                        Features = { view.Name },
                        AsOf = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(at)),
                    };
                    request.Entities.AddRange(chunk.Select(e => new EntityRow { JoinKeys = { [joinKey] = e } }));
                    var response = (await client.GetOnlineFeaturesAsync(request, cancellationToken)).Response;
                    Compare(server, view, chunk, at, response);
                }
            }
        }
    }

    private void Compare(string server, CompiledView view, string[] entities, long atMs, GetOnlineFeaturesResponse response)
    {
        Assert.Equal(entities.Length, response.Rows.Count);
        for (var c = 0; c < response.FeatureNames.Count; c++)
        {
            var name = response.FeatureNames[c];
            var feature = view.IndexOf(name[(name.IndexOf(':', StringComparison.Ordinal) + 1)..]);
            Assert.True(feature >= 0, $"{server} answered a feature {name} that {view.Name} does not have");
            for (var r = 0; r < entities.Length; r++)
            {
                var expected = _expected[(view.Name, entities[r], atMs)][feature];
                var actual = response.Rows[r].Values[c];
                Compared++;
                if (!Same(expected, actual))
                {
                    MismatchCount++;
                    if (Mismatches.Count < 10)
                    {
                        Mismatches.Add($"{server}: {name} of {entities[r]} at {atMs.ToString(CultureInfo.InvariantCulture)}: expected {expected}, got {actual}");
                    }
                }
            }
        }
    }

    private static bool Same(CoreValue expected, WireValue actual)
    {
        var status = expected.Status switch
        {
            ValueStatus.Present => FeatureStatus.Present,
            ValueStatus.NullValue => FeatureStatus.NullValue,
            ValueStatus.NotFound => FeatureStatus.NotFound,
            ValueStatus.OutsideTtl => FeatureStatus.OutsideTtl,
            _ => (FeatureStatus)(-1), // the reference is exact: no other status is ever expected
        };
        long? actualTime = actual.EventTimestamp is { } ts ? (ts.Seconds * 1000) + (ts.Nanos / 1_000_000) : null;
        return status == actual.Status && expected.EventTimeMs == actualTime && expected.Kind switch
        {
            ValueKind.Double => actual.ValueCase == WireValue.ValueOneofCase.DoubleValue
                && Math.Abs(expected.Double - actual.DoubleValue) <= 1e-9 * Math.Max(1, Math.Abs(expected.Double)),
            ValueKind.Int64 => actual.ValueCase == WireValue.ValueOneofCase.Int64Value && expected.Int64 == actual.Int64Value,
            ValueKind.String => actual.ValueCase == WireValue.ValueOneofCase.StringValue && expected.Text == actual.StringValue,
            _ => actual.ValueCase == WireValue.ValueOneofCase.None,
        };
    }
}
