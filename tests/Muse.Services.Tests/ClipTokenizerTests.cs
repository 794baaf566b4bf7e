using System.Text.Json;
using Muse.Testing;
using Muse.TextEncoder;

namespace Muse.Services.Tests;

/// <summary>
/// <see cref="ClipTokenizer"/> against the reference CLIP tokenizer: tests/fixtures/amused-tiny/reference.json holds,
/// for a corpus with punctuation, capitals, numbers, contractions, non-ASCII, CJK, emoji, odd white space, an empty
/// prompt and an over-long one, the 77 ids the reference produced from the fixture's vocab.json and merges.txt.
/// </summary>
public sealed class ClipTokenizerTests
{
    private static readonly string Fixture = Path.Combine(Repo.Root, "tests", "fixtures", "amused-tiny");

    [Fact]
    public void EncodePadded_ReferenceCorpus_IdsEqualReference()
    {
        var tokenizer = ClipTokenizer.Load(Path.Combine(Fixture, "checkpoint", "tokenizer"));
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "reference.json")));
        var cases = reference.RootElement.GetProperty("tokenizer").EnumerateArray().ToList();
        Assert.True(cases.Count >= 10);

        foreach (var item in cases)
        {
            var text = item.GetProperty("text").GetString()!;
            var expected = item.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();

            var ids = tokenizer.EncodePadded(text);

            Assert.True(expected.SequenceEqual(ids), $"'{text}': expected [{string.Join(", ", expected)}], got [{string.Join(", ", ids)}]");
        }
    }

    [Fact]
    public void EncodePadded_LongPrompt_TruncatesToMaxLengthEndingWithEnd()
    {
        var tokenizer = ClipTokenizer.Load(Path.Combine(Fixture, "checkpoint", "tokenizer"));

        var ids = tokenizer.EncodePadded(string.Concat(Enumerable.Repeat("a very long prompt ", 40)));

        Assert.Equal(77, ids.Length);
        Assert.Equal(tokenizer.StartId, ids[0]);
        Assert.Equal(tokenizer.EndId, ids[^1]);
        Assert.DoesNotContain(tokenizer.EndId, ids[1..^1]);
    }

    [Fact]
    public void Load_MergesMissing_FailsNamingFile()
    {
        var folder = Directory.CreateTempSubdirectory("muse-clip-").FullName;
        try
        {
            File.Copy(Path.Combine(Fixture, "checkpoint", "tokenizer", "vocab.json"), Path.Combine(folder, "vocab.json"));

            var error = Assert.Throws<InvalidDataException>(() => ClipTokenizer.Load(folder));

            Assert.Contains("merges.txt is missing", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
