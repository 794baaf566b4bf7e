using System.CommandLine;
using Google.Protobuf;
using Muse.Protos.V1;

namespace Muse.Client;

/// <summary>
/// What <c>muse inpaint</c>, <c>muse outpaint</c> and <c>muse edit</c> share: the request options (those of
/// <c>muse generate</c>), reading the input files, and one Edit call shown and summed up as <see cref="ImageCall"/>
/// shows every call, with the PNG written to a file.
/// </summary>
internal sealed class EditRunner
{
    private readonly ImageRequestOptions _shared = new();
    private readonly Option<string?> _output = new("--out", "-o") { Description = "Output PNG (default: <input>-<command>-<seed>.png in the current directory)" };
    private readonly ConnectionOptions _connection = new();

    /// <summary>Adds the shared options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        _shared.AddTo(command);
        command.Options.Add(_output);
        _connection.AddTo(command);
    }

    /// <summary>An Edit request with the image file and the shared options filled in; the caller sets the mode.</summary>
    public EditRequest Request(ParseResult parseResult, string imagePath, string prompt)
    {
        var request = new EditRequest
        {
            Image = ByteString.CopyFrom(ReadInput(imagePath)),
            Prompt = prompt,
            NegativePrompt = _shared.NegativePrompt(parseResult),
            Pipeline = _shared.Pipeline(parseResult),
            Decoding = _shared.Decoding(parseResult),
        };
        // An unset seed stays unset, so the server chooses one.
        ImageRequestOptions.SetIfGiven(_shared.Seed(parseResult), v => request.Seed = v);
        return request;
    }

    /// <summary>Bytes of an input file, with a clear error when it cannot be read (the server checks the content).</summary>
    public static byte[] ReadInput(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"{path}: no such file.");
        }

        // The server refuses more than its cap anyway; this only avoids reading a huge file into memory to send it.
        const long Limit = 64L * 1024 * 1024;
        return info.Length > Limit ? throw new IOException($"{path} is {info.Length} bytes; images to edit must be under {Limit} bytes.") : File.ReadAllBytes(path);
    }

    /// <summary>Runs the command body with the CLI's error handling.</summary>
    public Task<int> RunAsync(ParseResult parseResult, string verb, string imagePath, Func<EditRequest> request, CancellationToken cancellationToken) =>
        CommandRunner.RunAsync(
            async ct =>
            {
                var edit = request();
                var output = new OutputOptions(parseResult.GetValue(_output), Grid: false, Json: false)
                {
                    DefaultName = seed => $"{Path.GetFileNameWithoutExtension(imagePath)}-{verb}-{seed}.png",
                };
                var run = await ImageCall.RunAsync(
                    _connection.Read(parseResult), (client, token) => client.Edit(edit, cancellationToken: token), verb, output, ct);
                ImageCall.Report(run, json: false);
                return 0;
            },
            cancellationToken);
}
