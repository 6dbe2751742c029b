using FeatureStore.Parquet.History;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Parquet.Tests;

/// <summary>The external sort of an import's online part, against sorting in memory.</summary>
public sealed class SpillSorterUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-spill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Spilled_runs_merge_into_the_order_of_an_in_memory_sort()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var count = random.Next(0, 400);
            var records = new List<SpillRecord>(count);
            for (var i = 0; i < count; i++)
            {
                // Few keys (some prefixes of others, some non-ASCII), few times: many ties to break.
                var key = System.Text.Encoding.UTF8.GetBytes(new[] { "a", "ab", "b", "é", "u10", "u9", "" }[random.Next(7)] + (random.Next(3) == 0 ? random.Next(5).ToString(System.Globalization.CultureInfo.InvariantCulture) : ""));
                var payload = new byte[random.Next(0, 20)];
                random.NextBytes(payload);
                records.Add(new SpillRecord(key, random.Next(-5, 5) * 1000L, i, payload));
            }

            using var sorter = new SpillSorter(_dir, maxRecordsInMemory: random.Next(1, 60));
            foreach (var record in records)
            {
                sorter.Add(record);
            }

            var merged = sorter.Merge().ToList();
            var expected = records.OrderBy(r => r.Key, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ThenBy(r => r.Time).ThenBy(r => r.Position).ToList();
            Assert.Equal(expected.Count, merged.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Key, merged[i].Key);
                Assert.Equal(expected[i].Time, merged[i].Time);
                Assert.Equal(expected[i].Position, merged[i].Position);
                Assert.Equal(expected[i].Payload, merged[i].Payload);
            }
        }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }
}
