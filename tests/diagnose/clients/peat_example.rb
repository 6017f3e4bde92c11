# The Ruby client of PEAT's API document (seed 001), reconstructed where the page cuts lines.
# Changed for Hortus: host, key and file come from the environment (PEAT_HOST, PEAT_API_KEY,
# PEAT_FILE); the mime-types gem is used when installed, else image/jpeg.
require 'net/http'
require 'uri'
require 'json'
begin
  require 'mime/types'
rescue LoadError
  # without the gem the picture is sent as image/jpeg
end

IP = ENV.fetch("PEAT_HOST")
VERSION = "v1"
ROUTE = "image_analysis"
URL = "http://#{IP}/#{VERSION}/#{ROUTE}"

#Replace <YOUR_API_KEY> with your api key
API_KEY = ENV.fetch("PEAT_API_KEY")
BOUNDARY = "AaB03x#{rand(1_000_000)}"

FILE = ENV.fetch("PEAT_FILE")

def content_type_of(file)
  defined?(MIME::Types) ? MIME::Types.type_for(file).first.to_s : "image/jpeg"
end

def send_request
    uri = URI(URL)
    http = Net::HTTP.new(uri.host, uri.port)

    req = Net::HTTP::Post.new(uri.path, initheader = {"Content-Type" => "multipart/form-data; boundary=#{BOUNDARY}", "Api-Key" => API_KEY})

    post_body = []

    # Add the file Data
    post_body << "--#{BOUNDARY}\r\n"
    post_body << "Content-Disposition: form-data; name=\"picture\"; filename=\"#{File.basename(FILE)}\"\r\n"
    post_body << "Content-Type: #{content_type_of(FILE)}\r\n\r\n"
    post_body << File.binread(FILE)
    post_body << "\r\n--#{BOUNDARY}--\r\n"
    req.body = post_body.join

    res = http.request(req)
    puts "response #{res.body}"
rescue => e
    puts "failed #{e}"
end

send_request
