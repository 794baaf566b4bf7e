using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Muse.Cluster;

namespace Muse.EndToEnd.Tests;

/// <summary>The web listener of a TLS + API keys orchestrator: https only, and the same keys and limits as gRPC.</summary>
[Collection(SecureCluster.Name)]
public sealed class SecureWebTests(SecureClusterFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    private static readonly Uri Models = new("/v1/models", UriKind.Relative);

    [Fact]
    public async Task WebListener_ServesThePageOverTls_AndRefusesPlaintext()
    {
        using var web = fixture.Web();
        using var bound = new CancellationTokenSource(Bound);
        var plaintext = new UriBuilder(fixture.Cluster.WebUrl!) { Scheme = Uri.UriSchemeHttp }.Uri;
        using var plain = new HttpClient { BaseAddress = plaintext };

        using var page = await web.GetAsync(new Uri("/", UriKind.Relative), bound.Token);
        var html = await page.Content.ReadAsStringAsync(bound.Token);
        using var script = await web.GetAsync(new Uri("/app.js", UriKind.Relative), bound.Token);
        // Plaintext to the TLS port fails the handshake: the connection is closed, no response comes.
        await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(Models, bound.Token));

        Assert.Equal(Uri.UriSchemeHttps, fixture.Cluster.WebUrl!.Scheme);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<script type=\"module\" src=\"app.js\">", html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("muse_000000000000_wrong")]
    public async Task JsonApi_WithoutAValidKey_Is401(string? key)
    {
        using var web = fixture.Web();
        using var request = new HttpRequestMessage(HttpMethod.Get, Models);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await web.SendAsync(request);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(16, body.RootElement.GetProperty("code").GetInt32());   // google.rpc.Code.UNAUTHENTICATED
    }

    [Fact]
    public async Task JsonApi_WithAKey_ListsModelsAndGenerates()
    {
        using var web = fixture.Web();
        using var bound = new CancellationTokenSource(Bound);
        web.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Keys["alice"]);
        const string Body = """{"prompt": "a large red circle on the left", "seed": "11", "decoding": {"baseSteps": 2, "srSteps": 2}}""";

        using var models = JsonDocument.Parse(await web.GetStringAsync(Models, bound.Token));
        using var generate = await web.PostAsync(
            new Uri("/v1/images:generate", UriKind.Relative), new StringContent(Body, Encoding.UTF8, "application/json"), bound.Token);
        var lines = (await generate.Content.ReadAsStringAsync(bound.Token)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var last = JsonDocument.Parse(lines[^1]);

        Assert.NotEqual(0, models.RootElement.GetProperty("pipelines").GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, generate.StatusCode);
        var png = Convert.FromBase64String(last.RootElement.GetProperty("result").GetProperty("images")[0].GetProperty("image").GetString()!);
        Assert.Equal((byte)0x89, png[0]);
    }

    [Fact]
    public async Task JsonApi_OverTheKeysLimit_Is429WithRetryAfter()
    {
        using var web = fixture.Web();
        using var bound = new CancellationTokenSource(Bound);
        web.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Keys["web-one-per-minute"]);

        using var first = await web.GetAsync(Models, bound.Token);
        using var second = await web.GetAsync(Models, bound.Token);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal((HttpStatusCode)429, second.StatusCode);
        Assert.InRange(int.Parse(second.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture), 1, 60);
        Assert.Contains("1 requests per minute", await second.Content.ReadAsStringAsync(bound.Token), StringComparison.Ordinal);
    }
}
